import { type Hash64, hashInt, hashString } from './hash64.js';
import { mergePairwise } from './sorted-runs.js';
import { readVarint, writeVarint } from './varint.js';

/**
 * HyperLogLog for distinct counts, written here from the papers (one algorithm, dense and sparse forms and
 * their merge: kept in one file though past ~300 lines):
 * - dense: 2^14 six-bit registers (relative standard error 1.04/sqrt(16384) = 0.81%), estimated with
 *   Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog sketches",
 *   2017), which corrects the small- and large-range bias analytically instead of with HLL++'s
 *   empirical bias tables;
 * - sparse (HLL++ style): below 3,500 distinct hash prefixes it keeps (index, rank) pairs at precision
 *   25 and estimates by linear counting over 2^25 buckets, nearly exact for small sets; it turns dense
 *   when it would be larger than the dense form.
 * Mergeable (register-wise max) and serialised compactly with a version byte.
 */
export const HLL_P = 14;
const M = 1 << HLL_P;
const SPARSE_P = 25;
const SPARSE_M = 2 ** SPARSE_P;
/** About 3.1 bytes per serialised sparse entry: past ~3,900 the dense form (12,291 bytes) is smaller. */
const SPARSE_LIMIT = 3500;
const Q = 64 - HLL_P;
const VERSION = 1;

const scratch: Hash64 = [0, 0];
/** Sparse entries are keys `index << 6 | rank` (index < 2^25, rank < 64): sorted keys order by index. */
const RANK_BITS = 6;
/** New sparse keys wait unsorted in a buffer and are folded in (sorted, as a run) this many at a time. */
const PENDING_LIMIT = 1024;
/** Up to this many sparse runs are kept apart (merged only when counted); more are merged into one. */
const MAX_WALKED_RUNS = 8;
/** A merged sparse run this short joins the pending keys instead of being kept as a run. */
const SMALL_RUN = 16;

export class HyperLogLog {
  /**
   * sparse form: sorted runs of keys (see RANK_BITS), each with one key per precision-25 index; runs
   * merged in are kept as they are and merged into one only when needed (encoding, growing past the
   * sparse limit, or too many runs), so a merge-then-estimate counts the union in reused scratch space
   * instead of allocating it
   */
  private runs: Uint32Array[] | null = [];
  /** total keys in the runs: an upper bound of the distinct indices */
  private runKeys = 0;
  /** sparse keys added since the last fold, unsorted, possibly repeated */
  private pending: number[] = [];
  private registers: Uint8Array | null = null;

  /** Relative standard error of the dense estimate. */
  static readonly RSE = 1.04 / Math.sqrt(M);

  addInt(value: number): void {
    this.addHash(hashInt(value, scratch));
  }

  addString(value: string): void {
    this.addHash(hashString(value, scratch));
  }

  addHash([hi, lo]: Hash64): void {
    if (this.runs) {
      const index = hi >>> (32 - SPARSE_P);
      const rest = hi & ((1 << (32 - SPARSE_P)) - 1);
      const rank = rest !== 0 ? Math.clz32(rest) - SPARSE_P + 1 : 32 - SPARSE_P + Math.clz32(lo) + 1;
      this.pending.push(((index << RANK_BITS) | rank) >>> 0);
      if (this.pending.length >= PENDING_LIMIT) this.foldPending();
      return;
    }
    const index = hi >>> (32 - HLL_P);
    const rest = hi & ((1 << (32 - HLL_P)) - 1);
    const rank = rest !== 0 ? Math.clz32(rest) - HLL_P + 1 : 32 - HLL_P + Math.clz32(lo) + 1;
    const regs = this.registers!;
    if (regs[index]! < rank) regs[index] = rank;
  }

  get isSparse(): boolean {
    this.foldPending();
    return this.runs !== null;
  }

  private addPending(keys: ArrayLike<number>): void {
    for (let i = 0; i < keys.length; i++) this.pending.push(keys[i]!);
    if (this.pending.length >= PENDING_LIMIT) this.foldPending();
  }

  /** Sorts the pending keys into a run of their own. */
  private foldPending(): void {
    if (this.pending.length === 0 || !this.runs) return;
    const added = highestPerIndex(Uint32Array.from(this.pending).sort());
    this.pending = [];
    this.addRun(added);
  }

  private addRun(keys: Uint32Array): void {
    if (keys.length === 0) return;
    this.runs!.push(keys);
    this.runKeys += keys.length;
    if (this.runKeys > SPARSE_LIMIT || this.runs!.length > MAX_WALKED_RUNS) this.sparseKeys();
  }

  /** The runs merged into one sorted list (kept as the only run); turns dense past the sparse limit. */
  private sparseKeys(): Uint32Array {
    const keys = mergePairwise(this.runs!, mergeSparse) ?? EMPTY_KEYS;
    this.runs = [keys];
    this.runKeys = keys.length;
    if (keys.length > SPARSE_LIMIT) this.toDense();
    return keys;
  }

  private toDense(): void {
    const regs = new Uint8Array(M);
    for (const run of this.runs!) foldSparse(run, regs);
    for (const key of this.pending) foldKey(key, regs);
    this.pending = [];
    this.registers = regs;
    this.runs = null;
    this.runKeys = 0;
  }

  merge(other: HyperLogLog): this {
    other.foldPending();
    if (this.runs && other.runs) {
      for (const run of other.runs) {
        if (!this.runs) break;
        if (run.length > SMALL_RUN)
          this.addRun(run); // runs are never changed: shared
        else this.addPending(run); // a few keys: sorted in with the added ones, not one run each
      }
      if (this.runs) return this;
    }
    if (this.runs) this.toDense();
    const regs = this.registers!;
    if (other.runs) {
      for (const run of other.runs) foldSparse(run, regs); // touches only the other's entries
      return this;
    }
    const theirs = other.registers!;
    for (let i = 0; i < M; i++) if (regs[i]! < theirs[i]!) regs[i] = theirs[i]!;
    return this;
  }

  estimate(): number {
    this.foldPending();
    if (this.runs) {
      const n = countIndices(this.runs);
      return n === 0 ? 0 : SPARSE_M * Math.log(SPARSE_M / (SPARSE_M - n));
    }
    const counts = new Float64Array(Q + 2);
    for (let i = 0; i < M; i++) counts[this.registers![i]!]!++;
    let z = M * tau(1 - counts[Q + 1]! / M);
    for (let k = Q; k >= 1; k--) z = 0.5 * (z + counts[k]!);
    z += M * sigma(counts[0]! / M);
    return (M * M) / (2 * Math.LN2 * z);
  }

  serialize(): Uint8Array {
    this.foldPending();
    const keys = this.runs ? this.sparseKeys() : null;
    if (keys && this.runs) {
      const out = new Uint8Array(3 + 5 + keys.length * 5);
      out[0] = VERSION;
      out[1] = HLL_P;
      out[2] = 0;
      let at = writeVarint(out, 3, keys.length);
      let previous = 0;
      for (const key of keys) {
        const index = key >>> RANK_BITS;
        at = writeVarint(out, at, index - previous);
        out[at++] = key & RANK_MASK;
        previous = index;
      }
      return out.slice(0, at);
    }
    const out = new Uint8Array(3 + (M * 6) / 8);
    out[0] = VERSION;
    out[1] = HLL_P;
    out[2] = 1;
    const regs = this.registers!;
    for (let i = 0, bit = 0; i < M; i++, bit += 6) {
      const byte = 3 + (bit >>> 3);
      const offset = bit & 7;
      const v = regs[i]! << offset;
      out[byte]! |= v & 0xff;
      if (offset > 2) out[byte + 1]! |= v >>> 8;
    }
    return out;
  }

  static deserialize(bytes: Uint8Array): HyperLogLog {
    if (bytes[0] !== VERSION || bytes[1] !== HLL_P)
      throw new Error(`unsupported HyperLogLog encoding (version ${bytes[0]}, p ${bytes[1]})`);
    const h = new HyperLogLog();
    if (bytes[2] === 0) {
      const [count, first] = readVarint(bytes, 3);
      const keys = new Uint32Array(count);
      let at = first;
      let index = 0;
      for (let i = 0; i < count; i++) {
        // index deltas are below 2^25: at most four varint bytes, decoded inline (no tuple per entry)
        let b = bytes[at++]!;
        let delta = b & 0x7f;
        for (let shift = 7; b >= 0x80; shift += 7) {
          b = bytes[at++]!;
          delta |= (b & 0x7f) << shift;
        }
        index += delta;
        keys[i] = ((index << RANK_BITS) | bytes[at++]!) >>> 0;
      }
      h.addRun(keys);
      return h;
    }
    const regs = new Uint8Array(M);
    for (let i = 0, bit = 0; i < M; i++, bit += 6) {
      const byte = 3 + (bit >>> 3);
      const offset = bit & 7;
      const v = (bytes[byte]! | ((bytes[byte + 1] ?? 0) << 8)) >>> offset;
      regs[i] = v & 0x3f;
    }
    h.runs = null;
    h.registers = regs;
    return h;
  }
}

const RANK_MASK = (1 << RANK_BITS) - 1;
const EMPTY_KEYS = new Uint32Array(0);

/** Sorted keys reduced in place to one per index, the highest rank (mergeInto with nothing to merge). */
function highestPerIndex(sorted: Uint32Array): Uint32Array {
  return sorted.subarray(0, mergeInto(sorted, sorted.length, EMPTY_KEYS, sorted));
}

/** Scratch lists for counting across runs (grown as needed, reused: no allocation per estimate). */
let scratchA = new Uint32Array(4096);
let scratchB = new Uint32Array(4096);

/** Distinct indices across sorted runs: all but the last merged into scratch, the last only counted. */
function countIndices(runs: Uint32Array[]): number {
  if (runs.length <= 1) return runs[0]?.length ?? 0;
  // the merged prefix never holds more keys than all the runs together
  let total = 0;
  for (const run of runs) total += run.length;
  if (scratchA.length < total) {
    scratchA = new Uint32Array(2 * total);
    scratchB = new Uint32Array(2 * total);
  }
  let acc = runs[0]!;
  let accLength = acc.length;
  for (let r = 1; r < runs.length - 1; r++) {
    const out = acc === scratchA ? scratchB : scratchA;
    accLength = mergeInto(acc, accLength, runs[r]!, out);
    acc = out;
  }
  return mergeInto(acc, accLength, runs[runs.length - 1]!, null);
}

/** Two sorted key lists merged into a new one (one key per index); a list is shared when the other is empty. */
function mergeSparse(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (a.length === 0) return b; // lists are never changed in place, so one can be shared
  if (b.length === 0) return a;
  const out = new Uint32Array(a.length + b.length);
  const n = mergeInto(a, a.length, b, out);
  return n === out.length ? out : out.slice(0, n);
}

/**
 * Merges sorted keys a[0..aLength) and b into `out` keeping one key per index, the highest rank (equal
 * indices sort by rank, so the later key wins); with no `out`, only counts. Returns the merged length.
 */
function mergeInto(a: Uint32Array, aLength: number, b: Uint32Array, out: Uint32Array | null): number {
  const bLength = b.length;
  let n = 0;
  let i = 0;
  let j = 0;
  let lastIndex = -1;
  while (i < aLength || j < bLength) {
    let key: number;
    if (j === bLength) key = a[i++]!;
    else if (i === aLength) key = b[j++]!;
    else if (a[i]! <= b[j]!) key = a[i++]!;
    else key = b[j++]!;
    const index = key >>> RANK_BITS;
    if (index === lastIndex) {
      if (out) out[n - 1] = key;
    } else {
      if (out) out[n] = key;
      n++;
      lastIndex = index;
    }
  }
  return n;
}

/** Folds precision-25 sparse keys into precision-14 registers (register-wise max). */
function foldSparse(keys: Uint32Array, regs: Uint8Array): void {
  for (const key of keys) foldKey(key, regs);
}

function foldKey(key: number, regs: Uint8Array): void {
  const shift = SPARSE_P - HLL_P;
  const index = key >>> RANK_BITS;
  const i = index >>> shift;
  const between = index & ((1 << shift) - 1);
  const r = between !== 0 ? Math.clz32(between) - (32 - shift) + 1 : shift + (key & RANK_MASK);
  if (regs[i]! < r) regs[i] = r;
}

function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const previous = z;
    z += x * y;
    y += y;
    if (z === previous) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const previous = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === previous) return z / 3;
  }
}
