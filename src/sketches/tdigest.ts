/**
 * A merging t-digest (Dunning & Ertl, "Computing extremely accurate quantiles using t-digests"),
 * written here from the paper: values are buffered, then sorted and merged into centroids whose size
 * is bounded by the k1 scale function k(q) = δ/(2π)·asin(2q−1). That keeps centroids tiny at the tails
 * (accurate p99) and larger in the middle. Mergeable (re-merge the union of centroids) and serialised
 * with a version byte.
 */
const VERSION = 1;

export class TDigest {
  private means: number[] = [];
  private weights: number[] = [];
  private buffer: number[] = [];
  private bufferWeights: number[] = [];
  private total = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  constructor(readonly compression = 200) {}

  get count(): number {
    return this.total + this.bufferWeights.reduce((a, b) => a + b, 0);
  }

  get centroidCount(): number {
    this.flush();
    return this.means.length;
  }

  add(value: number, weight = 1): void {
    if (!Number.isFinite(value) || !(weight > 0)) return;
    this.buffer.push(value);
    this.bufferWeights.push(weight);
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.buffer.length >= this.compression * 5) this.flush();
  }

  merge(other: TDigest): this {
    other.flush();
    for (let i = 0; i < other.means.length; i++) {
      this.buffer.push(other.means[i]!);
      this.bufferWeights.push(other.weights[i]!);
    }
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    // merged centroids wait in the buffer like added values: many small merges cost one sort per buffer
    if (this.buffer.length >= this.compression * 5) this.flush();
    return this;
  }

  private k(q: number): number {
    return (this.compression / (2 * Math.PI)) * Math.asin(2 * q - 1);
  }

  private kInverse(k: number): number {
    return (Math.sin((k * 2 * Math.PI) / this.compression) + 1) / 2;
  }

  /** Sorts buffer and centroids together and merges neighbours while the k-size stays within 1. */
  private flush(): void {
    if (this.buffer.length === 0) return;
    const n = this.means.length + this.buffer.length;
    const order = new Array<number>(n);
    const allMeans = this.means.concat(this.buffer);
    const allWeights = this.weights.concat(this.bufferWeights);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => allMeans[a]! - allMeans[b]!);
    const total = allWeights.reduce((a, b) => a + b, 0);
    const means: number[] = [];
    const weights: number[] = [];
    let curMean = allMeans[order[0]!]!;
    let curWeight = allWeights[order[0]!]!;
    let before = 0;
    let limit = total * this.kInverse(this.k(0) + 1);
    for (let j = 1; j < n; j++) {
      const i = order[j]!;
      const w = allWeights[i]!;
      if (before + curWeight + w <= limit) {
        curWeight += w;
        curMean += ((allMeans[i]! - curMean) * w) / curWeight;
      } else {
        means.push(curMean);
        weights.push(curWeight);
        before += curWeight;
        limit = total * this.kInverse(this.k(before / total) + 1);
        curMean = allMeans[i]!;
        curWeight = w;
      }
    }
    means.push(curMean);
    weights.push(curWeight);
    this.means = means;
    this.weights = weights;
    this.total = total;
    this.buffer = [];
    this.bufferWeights = [];
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

  serialize(): Uint8Array {
    this.flush();
    const n = this.means.length;
    const out = new DataView(new ArrayBuffer(1 + 4 + 8 + 8 + 4 + n * 12));
    let at = 0;
    out.setUint8(at, VERSION);
    at += 1;
    out.setFloat32(at, this.compression, true);
    at += 4;
    out.setFloat64(at, n ? this.min : 0, true);
    at += 8;
    out.setFloat64(at, n ? this.max : 0, true);
    at += 8;
    out.setUint32(at, n, true);
    at += 4;
    for (let i = 0; i < n; i++) {
      out.setFloat64(at, this.means[i]!, true);
      out.setFloat32(at + 8, this.weights[i]!, true);
      at += 12;
    }
    return new Uint8Array(out.buffer);
  }

  static deserialize(bytes: Uint8Array): TDigest {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint8(0) !== VERSION)
      throw new Error(`unsupported t-digest encoding version ${view.getUint8(0)}`);
    const d = new TDigest(view.getFloat32(1, true));
    const n = view.getUint32(21, true);
    if (n > 0) {
      d.min = view.getFloat64(5, true);
      d.max = view.getFloat64(13, true);
    }
    let total = 0;
    for (let i = 0, at = 25; i < n; i++, at += 12) {
      d.means.push(view.getFloat64(at, true));
      const w = view.getFloat32(at + 8, true);
      d.weights.push(w);
      total += w;
    }
    d.total = total;
    return d;
  }
}
