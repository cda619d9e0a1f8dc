import { mergeSortedRuns } from './sorted-runs.js';
import { decodeSortedList, encodeSortedList, mergeIntoSortedList, sortedListLength } from './varint.js';

/**
 * The exact counterpart of the sketches in a pre-aggregate: a bucket's distinct customer ids (sorted,
 * unique) and every order value (sorted, with repeats), stored as sorted varint lists of one or two
 * bytes per value. Merging keeps the stored parts as they are, decoded only when the values are asked for
 * (then merged as sorted runs, once); a stored part alone is already in order. Distinct counts and
 * nearest-rank percentiles from these are exact, at a few bytes per order instead of a sketch's fixed size.
 */
export class ExactOrderSets {
  private readonly customerLists = new SortedLists(true);
  private readonly valueLists = new SortedLists(false);

  add(customerPk: number, value: number): void {
    this.customerLists.added.push(customerPk);
    this.valueLists.added.push(value);
  }

  mergeEncoded(customers: Uint8Array, values: Uint8Array): void {
    this.customerLists.encoded.push(customers);
    this.valueLists.encoded.push(values);
  }

  /** Distinct customer ids, ascending. */
  customers(): Float64Array {
    return this.customerLists.all();
  }

  /** Every order value, ascending. */
  values(): Float64Array {
    return this.valueLists.all();
  }

  serialize(): { customers_exact: Uint8Array; values_exact: Uint8Array } {
    return { customers_exact: this.customerLists.encode(), values_exact: this.valueLists.encode() };
  }
}

/**
 * A stored list's part next to which the rest is this small or smaller (in values) is merged into it as
 * bytes (mergeIntoSortedList) rather than decoded: a delta folded into a month's or a day's list.
 */
const SPLICE_MAX_SHARE = 1 / 4;

/** One exact list being merged: stored parts (encoded, or decoded once asked), and values added one by one. */
class SortedLists {
  encoded: Uint8Array[] = [];
  decoded: Float64Array[] = [];
  added: number[] = [];

  constructor(private readonly unique: boolean) {}

  all(): Float64Array {
    for (const bytes of this.encoded) this.decoded.push(decodeSortedList(bytes));
    this.encoded = [];
    const all = collapse(this.decoded, this.added, this.unique);
    this.decoded = [all];
    this.added = [];
    return all;
  }

  encode(): Uint8Array {
    if (this.encoded.length === 0) return encodeSortedList(this.all());
    // the longest stored part, and how many values the rest hold beside it (each part's count read once)
    const lengths = this.encoded.map(sortedListLength);
    const index = lengths.indexOf(Math.max(...lengths));
    let rest = this.added.length - lengths[index]!;
    for (const length of lengths) rest += length;
    for (const part of this.decoded) rest += part.length;
    const bytes = this.encoded[index]!;
    if (rest > lengths[index]! * SPLICE_MAX_SHARE) return encodeSortedList(this.all());
    if (rest === 0) return bytes;
    const others = this.encoded.filter((_, i) => i !== index).map(decodeSortedList);
    const small = collapse([...this.decoded, ...others], this.added, this.unique);
    const merged = mergeIntoSortedList(bytes, small, this.unique);
    // what is kept is the merged list, decoded if its values are asked for later
    this.encoded = [merged];
    this.decoded = [];
    this.added = [];
    return merged;
  }
}

/**
 * One sorted array of the parts and the added values; unique drops repeats (parts are unique alone). The
 * parts are sorted already, so they are merged (the added values sorted first, as one more run) rather than
 * sorted together: folding a few new orders into a month's lists of tens of thousands is linear, not a
 * sort of the whole (a 50-order delta spent 2.2 of its 3 s re-sorting stored lists).
 */
function collapse(parts: Float64Array[], added: number[], unique: boolean): Float64Array {
  if (parts.length === 1 && added.length === 0) return parts[0]!;
  const runs = added.length > 0 ? [...parts, Float64Array.from(added).sort()] : parts;
  const all = mergeSortedRuns(runs) ?? new Float64Array(0);
  if (!unique || all.length < 2) return all;
  let n = 1;
  for (let i = 1; i < all.length; i++) if (all[i] !== all[n - 1]) all[n++] = all[i]!;
  return n === all.length ? all : all.slice(0, n);
}
