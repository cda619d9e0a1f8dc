/**
 * Exact figures of a few keys (a ranking of categories) in two passes over the lines, whatever the number
 * of orders: distinct customers in a bitset per key, and each percentile of the orders' totals by a
 * histogram per key (256 bins an octave) in the first pass; the second keeps only the totals that fall in
 * the bins holding the wanted ranks, and selects them exactly. Pairs of (key, order) are never held, so a
 * ranking of 30 categories over 2M orders reads its lines twice instead of once per slice of pairs.
 * An approx ranking (`binned`) answers each percentile from the first pass alone: the middle of the bin
 * holding its rank, within BINNED_RELATIVE_ERROR of the exact nearest-rank total, so it reads the lines
 * once (only a rank in the last bin, which has no upper edge, is still kept and selected).
 */
import { nearestRankIndex } from '../domain/sales.js';
import { BUCKET_PERCENTILES } from './buckets.js';
import { Column } from './columns.js';

/** Bins an octave: totals one bin apart differ by at most 1/256 of themselves. */
const SUB_BITS = 8;
/** Octaves of totals from 1 up (2^40 cents and more share the last bin); 0 has a bin of its own. */
const OCTAVES = 40;
const BINS = (OCTAVES << SUB_BITS) + 1;

/**
 * How far a binned percentile may lie from the exact nearest-rank total (whole cents): a bin from 2^e on
 * spans 2^e/256, its whole totals lie at most that far apart (one alone below 512), and the middle one is
 * off by at most half of it from any of them: 2^e/512, at most 1/512 of the total.
 */
export const BINNED_RELATIVE_ERROR = 1 / 512;

/** Keys and customers up to which the bitsets of every key take at most this many bytes. */
export const KEY_HISTOGRAM_BYTES = 16 << 20;

/** Whether `keys` keys over customer ids up to `maxCustomer` fit the bitsets' budget. */
export function histogramsFit(keys: number, maxCustomer: number): boolean {
  return keys * Math.ceil((maxCustomer + 1) / 8) <= KEY_HISTOGRAM_BYTES;
}

const word = new Float64Array(1);
const halves = new Uint32Array(word.buffer);

/** A total's bin, non-decreasing in the total: the top bits of its double past the exponent's base. */
export function binOf(total: number): number {
  if (!(total >= 1)) return 0;
  word[0] = total;
  const bin = (halves[1]! >>> (20 - SUB_BITS)) - (1023 << SUB_BITS) + 1; // platform byte order: little-endian
  return bin < BINS ? bin : BINS - 1;
}

/** The last bin, which holds every total from 2^40 up: no value stands for it. */
const OPEN_BIN = BINS - 1;

/**
 * The middle whole number of a bin below the last (0 for bin 0): bin b >= 1 holds [2^e (1 + k/256),
 * 2^e (1 + (k+1)/256)) with e = (b-1) >> 8 and k = (b-1) & 255, the inverse of binOf.
 */
export function binValue(bin: number): number {
  if (bin <= 0) return 0;
  if (bin >= OPEN_BIN) throw new RangeError(`bin ${bin} has no upper edge`);
  const scale = 2 ** ((bin - 1) >> SUB_BITS);
  const k = (bin - 1) & ((1 << SUB_BITS) - 1);
  const low = Math.ceil(scale * (1 + k / (1 << SUB_BITS)));
  const high = Math.ceil(scale * (1 + (k + 1) / (1 << SUB_BITS))) - 1;
  return Math.round((low + Math.max(low, high)) / 2);
}

/** Where one percentile of a key lies: its bin, and its rank among that bin's totals. */
interface Target {
  bin: number;
  within: number;
}

export class KeyHistograms {
  private readonly words: number;
  private readonly bits: Uint32Array[] = [];
  private readonly distinct: number[] = [];
  private readonly counts: Int32Array[] = [];
  private readonly orderValue: number[] = [];
  private readonly targets: Target[][] = [];
  /** per key, the totals kept in the second pass, by target bin */
  private readonly kept: Map<number, Column<Float64Array>>[] = [];

  /** `binned`: percentiles answered from their bins (approx), not selected from a second pass */
  constructor(
    maxCustomer: number,
    readonly binned = false,
  ) {
    this.words = (maxCustomer >>> 5) + 1;
  }

  /** First pass: an order of key `p` (once per key and order). */
  add(p: number, customer: number, total: number): void {
    if (this.bits[p] === undefined) {
      this.bits[p] = new Uint32Array(this.words);
      this.counts[p] = new Int32Array(BINS);
      this.distinct[p] = 0;
      this.orderValue[p] = 0;
    }
    const at = customer >>> 5;
    if (at >= this.bits[p]!.length) {
      // an id past the largest the scan was told of (none in one snapshot): the bitset grows
      const more = new Uint32Array(at + 1);
      more.set(this.bits[p]!);
      this.bits[p] = more;
    }
    const bits = this.bits[p]!;
    const bit = 1 << (customer & 31);
    if ((bits[at]! & bit) === 0) {
      bits[at] = bits[at]! | bit;
      this.distinct[p]!++;
    }
    this.counts[p]![binOf(total)]!++;
    this.orderValue[p]! += total;
  }

  /**
   * Ends the first pass for the keys to finish (`orders`: each key's orders): where each percentile lies,
   * and how many totals the second pass will keep for them (binned: only those of ranks in the last bin;
   * 0, no second pass, where there are none).
   */
  plan(keys: Iterable<number>, orders: (p: number) => number): number {
    let keep = 0;
    for (const p of keys) {
      const counts = this.counts[p]!;
      const n = orders(p);
      this.kept[p] = new Map();
      this.targets[p] = BUCKET_PERCENTILES.map((percentile) => {
        const rank = nearestRankIndex(n, percentile);
        let before = 0;
        let bin = 0;
        while (before + counts[bin]! <= rank) before += counts[bin++]!;
        if ((!this.binned || bin === OPEN_BIN) && !this.kept[p]!.has(bin)) {
          this.kept[p]!.set(bin, new Column(new Float64Array(16), (size) => new Float64Array(size)));
          keep += counts[bin]!;
        }
        return { bin, within: rank - before };
      });
    }
    return keep;
  }

  /** Second pass: an order of key `p` again, its total kept if it falls in a target bin. */
  collect(p: number, total: number): void {
    this.kept[p]?.get(binOf(total))?.push(total);
  }

  /** Key `p`'s figures: its orders' total value, distinct customers, and p50, p95, p99 (exactly, or binned). */
  figures(p: number): { orderValue: number; customers: number; percentiles: number[] } {
    const sorted = new Map<number, Float64Array>();
    const percentiles = this.targets[p]!.map(({ bin, within }) => {
      if (this.binned && bin !== OPEN_BIN) return binValue(bin);
      let values = sorted.get(bin);
      if (!values) {
        const column = this.kept[p]!.get(bin)!;
        values = column.data.subarray(0, column.length).sort();
        sorted.set(bin, values);
      }
      return values[within]!;
    });
    return { orderValue: this.orderValue[p]!, customers: this.distinct[p]!, percentiles };
  }
}
