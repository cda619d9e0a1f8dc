import { mergeSortedRuns } from './sorted-runs.js';
import { decodeSortedList, encodeSortedList } from './varint.js';

/**
 * The exact counterpart of the sketches in a pre-aggregate: a bucket's distinct customer ids (sorted,
 * unique) and every order value (sorted, with repeats), stored as sorted varint lists of one or two
 * bytes per value. Merging keeps the decoded parts and merges them (sorted runs) once, when asked; a
 * stored part alone is already in order. Distinct counts and nearest-rank percentiles from these are
 * exact, at a few bytes per order instead of a sketch's fixed size.
 */
export class ExactOrderSets {
  private customerParts: Float64Array[] = [];
  private valueParts: Float64Array[] = [];
  private addedCustomers: number[] = [];
  private addedValues: number[] = [];

  add(customerPk: number, value: number): void {
    this.addedCustomers.push(customerPk);
    this.addedValues.push(value);
  }

  mergeEncoded(customers: Uint8Array, values: Uint8Array): void {
    this.customerParts.push(decodeSortedList(customers));
    this.valueParts.push(decodeSortedList(values));
  }

  /** Distinct customer ids, ascending. */
  customers(): Float64Array {
    const all = collapse(this.customerParts, this.addedCustomers, true);
    this.customerParts = [all];
    this.addedCustomers = [];
    return all;
  }

  /** Every order value, ascending. */
  values(): Float64Array {
    const all = collapse(this.valueParts, this.addedValues, false);
    this.valueParts = [all];
    this.addedValues = [];
    return all;
  }

  serialize(): { customers_exact: Uint8Array; values_exact: Uint8Array } {
    return {
      customers_exact: encodeSortedList(this.customers()),
      values_exact: encodeSortedList(this.values()),
    };
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
