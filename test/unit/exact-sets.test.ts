import { describe, expect, it } from 'vitest';
import { ExactOrderSets } from '../../src/sketches/exact-sets.js';
import {
  decodeSortedList,
  encodeSortedList,
  mergeIntoSortedList,
  readVarint,
  sortedListLength,
  writeVarint,
} from '../../src/sketches/varint.js';

/** A small seeded generator (the same lists every run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s;
  };
}

/** `n` sorted values below `max` (repeats possible), or distinct with `unique`. */
function sortedValues(next: () => number, n: number, max: number, unique: boolean): number[] {
  const values = Array.from({ length: n }, () => next() % max);
  const sorted = values.sort((a, b) => a - b);
  return unique ? [...new Set(sorted)] : sorted;
}

describe('varints and sorted lists', () => {
  it('round-trip values up to 2^53, in one byte below 128', () => {
    const out = new Uint8Array(16);
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, 1e13, Number.MAX_SAFE_INTEGER]) {
      const end = writeVarint(out, 0, v);
      expect(readVarint(out, 0)).toEqual([v, end]);
      if (v < 128) expect(end).toBe(1);
    }
    expect(() => readVarint(new Uint8Array([0x80, 0x80]), 0)).toThrow(/truncated/);
  });

  it('encode ascending lists with repeats compactly and decode them exactly', () => {
    const list = [0, 0, 3, 3, 3, 200, 1000, 1e13];
    expect([...decodeSortedList(encodeSortedList(list))]).toEqual(list);
    expect([...decodeSortedList(encodeSortedList([]))]).toEqual([]);
    const dense = Array.from({ length: 10_000 }, (_, i) => 5_000 + i * 3);
    expect(encodeSortedList(dense).length).toBeLessThan(10_000 + 8); // one byte per small gap
    expect(() => encodeSortedList([5, 4])).toThrow(/sorted/);
    expect(() => decodeSortedList(new Uint8Array([7, 0]))).toThrow(/unsupported/);
  });

  it('merge values into an encoded list as bytes exactly as decoding, merging and encoding again would', () => {
    const next = lcg(11);
    // sizes around the edges: empty lists, values before the first, after the last, between, equal
    // ones, gaps of one and of several varint bytes, counts whose header grows a byte (127 -> 128)
    for (const unique of [false, true])
      for (const [n, m, max] of [
        [0, 0, 10],
        [0, 3, 10],
        [5, 0, 10],
        [1, 1, 1],
        [127, 1, 100_000],
        [126, 5, 300],
        [2_000, 40, 50_000],
        [3_000, 3_000, 5_000],
        [500, 20, 2 ** 40],
      ] as const)
        for (let round = 0; round < 5; round++) {
          const stored = sortedValues(next, n, max, unique);
          const added = sortedValues(next, m, max, unique);
          const expected = [...stored, ...added].sort((a, b) => a - b);
          const want = unique ? [...new Set(expected)] : expected;
          const merged = mergeIntoSortedList(encodeSortedList(stored), added, unique);
          expect([...decodeSortedList(merged)]).toEqual(want);
          expect(merged).toEqual(encodeSortedList(want)); // byte for byte
          expect(sortedListLength(merged)).toBe(want.length);
        }
    expect(() => mergeIntoSortedList(encodeSortedList([1, 5]), [3, 2], false)).toThrow(/sorted/);
    expect(() => mergeIntoSortedList(new Uint8Array([7, 0]), [1], false)).toThrow(/unsupported/);
  });
});

describe('ExactOrderSets', () => {
  it('gives distinct customers and sorted values exactly, merged from encoded parts and fresh adds', () => {
    const encoded = [new ExactOrderSets(), new ExactOrderSets()];
    const merged = new ExactOrderSets();
    const customers = new Set<number>();
    const values: number[] = [];
    let s = 7;
    for (let i = 0; i < 6_000; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const customer = s % 900;
      const value = (s >>> 8) % 50_000;
      // two thirds go through stored parts, one third is added straight to the merged set
      if (i % 3 === 2) merged.add(customer, value);
      else encoded[i % 3]!.add(customer, value);
      customers.add(customer);
      values.push(value);
    }
    for (const part of encoded) {
      const row = part.serialize();
      expect([...row.customers_exact.slice(0, 1)]).toEqual([1]); // version byte
      merged.mergeEncoded(row.customers_exact, row.values_exact);
    }
    expect([...merged.customers()]).toEqual([...customers].sort((a, b) => a - b));
    expect([...merged.values()]).toEqual(values.sort((a, b) => a - b));
    // asking twice gives the same (the parts were collapsed into one)
    expect(merged.customers().length).toBe(customers.size);
    const empty = new ExactOrderSets();
    expect(empty.customers().length).toBe(0);
    expect(empty.values().length).toBe(0);
  });

  it('fold a small delta into a large stored row, as bytes, with the same lists as a full merge', () => {
    const next = lcg(5);
    const stored = new ExactOrderSets();
    for (let i = 0; i < 20_000; i++) stored.add(next() % 9_000, next() % 80_000);
    const row = stored.serialize();
    for (const deltaOrders of [0, 1, 30, 400]) {
      const delta = new ExactOrderSets();
      for (let i = 0; i < deltaOrders; i++) delta.add(next() % 10_000, next() % 90_000);
      const deltaRow = delta.serialize();
      // the stored row and a delta row, as mergedWith builds them; then a value added straight on
      const spliced = new ExactOrderSets();
      spliced.mergeEncoded(row.customers_exact, row.values_exact);
      spliced.mergeEncoded(deltaRow.customers_exact, deltaRow.values_exact);
      spliced.add(4_321, 1_234);
      const full = new ExactOrderSets();
      full.mergeEncoded(row.customers_exact, row.values_exact);
      full.mergeEncoded(deltaRow.customers_exact, deltaRow.values_exact);
      full.add(4_321, 1_234);
      const want = { customers: [...full.customers()], values: [...full.values()] };
      const out = spliced.serialize();
      expect(out).toEqual({
        customers_exact: encodeSortedList(want.customers),
        values_exact: encodeSortedList(want.values),
      });
      // asked after serializing, the values are the merged ones
      expect([...spliced.customers()]).toEqual(want.customers);
      expect([...spliced.values()]).toEqual(want.values);
    }
  });
});
