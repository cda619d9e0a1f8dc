import { describe, expect, it } from 'vitest';
import { ExactOrderSets } from '../../src/sketches/exact-sets.js';
import { decodeSortedList, encodeSortedList, readVarint, writeVarint } from '../../src/sketches/varint.js';

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
});
