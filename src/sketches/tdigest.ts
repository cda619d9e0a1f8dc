/**
 * A merging t-digest (Dunning & Ertl, "Computing extremely accurate quantiles using t-digests"),
 * written here from the paper: values are buffered, then sorted and merged into centroids whose size
 * is bounded by the k1 scale function k(q) = δ/(2π)·asin(2q−1). That keeps centroids tiny at the tails
 * (accurate p99) and larger in the middle. Mergeable (re-merge the union of centroids) and serialised
 * with a version byte.
 */
import { mergePairwise } from './sorted-runs.js';
import { decodeSortedList, encodeSortedList } from './varint.js';

const VERSION = 2;
/** The centroid encodings of version 2. */
const CENTROIDS = 0;
const POINTS = 1;
/** version, compression (f32), encoding */
const HEADER = 6;
const EMPTY = new Float64Array(0);
/** Digests with up to this many centroids are merged as added values, not kept as a run. */
const SMALL_MERGE = 16;

/** Centroids in ascending order of mean. */
interface Run {
  means: Float64Array;
  weights: Float64Array;
}

export class TDigest {
  private means: Float64Array = EMPTY;
  private weights: Float64Array = EMPTY;
  /** values added since the last flush, unsorted */
  private added: number[] = [];
  private addedWeights: number[] = [];
  /** other digests' centroids merged in since the last flush: each already sorted */
  private runs: Run[] = [];
  private pendingCentroids = 0;
  private pendingWeight = 0;
  private total = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  constructor(readonly compression = 200) {}

  get count(): number {
    return this.total + this.pendingWeight;
  }

  get centroidCount(): number {
    this.flush();
    return this.means.length;
  }

  add(value: number, weight = 1): void {
    if (!Number.isFinite(value) || !(weight > 0)) return;
    this.added.push(value);
    this.addedWeights.push(weight);
    this.pending(1, weight);
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  merge(other: TDigest): this {
    other.flush();
    const n = other.means.length;
    if (n === 0) return this;
    // merged centroids wait, like added values: many small merges cost one merge pass per buffer; a
    // small digest's few centroids join the added values (thousands of tiny digests, such as one
    // product's days, would otherwise each keep two arrays alive until the flush)
    if (n <= SMALL_MERGE) {
      for (let i = 0; i < n; i++) {
        this.added.push(other.means[i]!);
        this.addedWeights.push(other.weights[i]!);
      }
    } else this.runs.push({ means: other.means, weights: other.weights });
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    this.pending(other.means.length, other.total);
    return this;
  }

  private pending(centroids: number, weight: number): void {
    this.pendingCentroids += centroids;
    this.pendingWeight += weight;
    if (this.pendingCentroids >= this.compression * 5) this.flush();
  }

  private k(q: number): number {
    return (this.compression / (2 * Math.PI)) * Math.asin(2 * q - 1);
  }

  private kInverse(k: number): number {
    return (Math.sin((k * 2 * Math.PI) / this.compression) + 1) / 2;
  }

  /**
   * Merges the centroids, the merged digests' centroids and the sorted added values into one sorted
   * sequence (the parts are sorted runs, so this is a merge, not a sort), then merges neighbours while
   * the k-size stays within 1.
   */
  private flush(): void {
    if (this.pendingCentroids === 0) return;
    const runs = this.runs;
    if (this.means.length > 0) runs.push({ means: this.means, weights: this.weights });
    if (this.added.length > 0) runs.push(sortedAdded(this.added, this.addedWeights));
    const all = mergePairwise(runs, mergeTwo)!; // at least one run: something is pending
    const total = this.total + this.pendingWeight;
    const n = all.means.length;
    const means = new Float64Array(n);
    const weights = new Float64Array(n);
    let out = 0;
    let curMean = all.means[0]!;
    let curWeight = all.weights[0]!;
    let before = 0;
    let limit = total * this.kInverse(this.k(0) + 1);
    for (let i = 1; i < n; i++) {
      const w = all.weights[i]!;
      if (before + curWeight + w <= limit) {
        curWeight += w;
        curMean += ((all.means[i]! - curMean) * w) / curWeight;
      } else {
        means[out] = curMean;
        weights[out++] = curWeight;
        before += curWeight;
        limit = total * this.kInverse(this.k(before / total) + 1);
        curMean = all.means[i]!;
        curWeight = w;
      }
    }
    means[out] = curMean;
    weights[out++] = curWeight;
    this.means = means.slice(0, out);
    this.weights = weights.slice(0, out);
    this.total = total;
    this.added = [];
    this.addedWeights = [];
    this.runs = [];
    this.pendingCentroids = 0;
    this.pendingWeight = 0;
  }

  /** The value below which a fraction q of the weight lies (interpolating between centroid centres). */
  quantile(q: number): number {
    this.flush();
    const n = this.means.length;
    if (n === 0) return Number.NaN;
    if (n === 1 || q <= 0) return q <= 0 ? this.min : this.means[0]!;
    if (q >= 1) return this.max;
    const target = q * this.total;
    // left tail: between min and the first centroid's centre
    const firstHalf = this.weights[0]! / 2;
    if (target < firstHalf) {
      return this.weights[0] === 1 ? this.min : this.min + ((this.means[0]! - this.min) * target) / firstHalf;
    }
    let cumulative = firstHalf;
    for (let i = 0; i < n - 1; i++) {
      const gap = this.weights[i]! / 2 + this.weights[i + 1]! / 2;
      if (target < cumulative + gap) {
        // singleton centroids are exact points: no interpolation across them
        const leftExact = this.weights[i] === 1 ? 0.5 : 0;
        const rightExact = this.weights[i + 1] === 1 ? 0.5 : 0;
        const into = target - cumulative;
        // at exactly the boundary the left value already has q of the weight at or below it (nearest rank)
        if (into <= leftExact) return this.means[i]!;
        if (gap - into <= rightExact) return this.means[i + 1]!;
        const span = gap - leftExact - rightExact;
        return this.means[i]! + ((this.means[i + 1]! - this.means[i]!) * (into - leftExact)) / span;
      }
      cumulative += gap;
    }
    const lastHalf = this.weights[n - 1]! / 2;
    const into = target - cumulative;
    return this.weights[n - 1] === 1
      ? this.max
      : this.means[n - 1]! + ((this.max - this.means[n - 1]!) * into) / lastHalf;
  }

  /**
   * Version 2: a version byte, the compression, then either the centroids as exact points (every weight
   * 1 and every mean a non-negative integer, as in a digest of a few order values in cents: a sorted
   * varint list, one to three bytes each) or the count, min, max and each centroid's mean (f64) and
   * weight (f32). A small digest takes ~10 bytes instead of 25 + 12 per centroid (version 1, still read).
   */
  serialize(): Uint8Array {
    this.flush();
    const n = this.means.length;
    const points = this.weights.every((w) => w === 1) && this.means.every(isCount);
    const list = points ? encodeSortedList(this.means) : null;
    const out = new Uint8Array(HEADER + (list ? list.length : 4 + 16 + n * 12));
    const view = new DataView(out.buffer);
    out[0] = VERSION;
    view.setFloat32(1, this.compression, true);
    out[5] = list ? POINTS : CENTROIDS;
    if (list) {
      out.set(list, HEADER);
      return out;
    }
    view.setUint32(HEADER, n, true);
    view.setFloat64(HEADER + 4, this.min, true);
    view.setFloat64(HEADER + 12, this.max, true);
    for (let i = 0, at = HEADER + 20; i < n; i++, at += 12) {
      view.setFloat64(at, this.means[i]!, true);
      view.setFloat32(at + 8, this.weights[i]!, true);
    }
    return out;
  }

  static deserialize(bytes: Uint8Array): TDigest {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = view.getUint8(0);
    if (version === 1) return TDigest.deserializeV1(view);
    if (version !== VERSION) throw new Error(`unsupported t-digest encoding version ${version}`);
    const d = new TDigest(view.getFloat32(1, true));
    if (bytes[5] === POINTS) {
      const means = decodeSortedList(bytes.subarray(HEADER));
      if (means.length > 0) {
        d.min = means[0]!;
        d.max = means[means.length - 1]!;
        d.setCentroids(means, new Float64Array(means.length).fill(1));
      }
      return d;
    }
    d.readCentroids(view, HEADER + 20, view.getUint32(HEADER, true), HEADER + 4);
    return d;
  }

  /** Version 1 (rollup rows written before version 2): a fixed header, then 12 bytes per centroid. */
  private static deserializeV1(view: DataView): TDigest {
    const d = new TDigest(view.getFloat32(1, true));
    d.readCentroids(view, 25, view.getUint32(21, true), 5);
    return d;
  }

  /** n centroids of (f64 mean, f32 weight) from `at`, with min and max (f64 each) at `minMaxAt`. */
  private readCentroids(view: DataView, at: number, n: number, minMaxAt: number): void {
    if (n === 0) return;
    this.min = view.getFloat64(minMaxAt, true);
    this.max = view.getFloat64(minMaxAt + 8, true);
    const means = new Float64Array(n);
    const weights = new Float64Array(n);
    for (let i = 0; i < n; i++, at += 12) {
      means[i] = view.getFloat64(at, true);
      weights[i] = view.getFloat32(at + 8, true);
    }
    this.setCentroids(means, weights);
  }

  private setCentroids(means: Float64Array, weights: Float64Array): void {
    this.means = means;
    this.weights = weights;
    let total = 0;
    for (const w of weights) total += w;
    this.total = total;
  }
}

/** A value the points form stores exactly: a non-negative integer (cents). */
function isCount(value: number): boolean {
  return value >= 0 && Number.isSafeInteger(value);
}

/** The added values as a sorted run (a numeric typed-array sort when every weight is 1). */
function sortedAdded(values: number[], weights: number[]): Run {
  if (weights.every((w) => w === 1)) {
    const means = Float64Array.from(values).sort();
    return { means, weights: new Float64Array(means.length).fill(1) };
  }
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  return {
    means: Float64Array.from(order, (i) => values[i]!),
    weights: Float64Array.from(order, (i) => weights[i]!),
  };
}

function mergeTwo(a: Run, b: Run): Run {
  const n = a.means.length + b.means.length;
  const means = new Float64Array(n);
  const weights = new Float64Array(n);
  let i = 0;
  let j = 0;
  for (let o = 0; o < n; o++) {
    if (j >= b.means.length || (i < a.means.length && a.means[i]! <= b.means[j]!)) {
      means[o] = a.means[i]!;
      weights[o] = a.weights[i++]!;
    } else {
      means[o] = b.means[j]!;
      weights[o] = b.weights[j++]!;
    }
  }
  return { means, weights };
}
