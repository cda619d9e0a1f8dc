import { describe, expect, it } from 'vitest';
import { HyperLogLog } from '../../src/sketches/hll.js';

function sketch(from: number, to: number, step = 1): HyperLogLog {
  const h = new HyperLogLog();
  for (let i = from; i < to; i += step) h.addInt(i);
  return h;
}

describe('HyperLogLog', () => {
  it('is exact or nearly so for small sets (sparse mode), including strings and repeats', () => {
    for (const n of [0, 1, 2, 10, 100, 1000, 3000]) {
      const h = sketch(0, n);
      for (let i = 0; i < n; i++) h.addInt(i); // repeats change nothing
      expect(h.isSparse).toBe(true);
      expect(Math.abs(h.estimate() - n)).toBeLessThanOrEqual(Math.max(0.5, n * 0.001));
    }
    const s = new HyperLogLog();
    for (let i = 0; i < 500; i++) s.addString(`customer-${i % 250}@example.com`);
    expect(Math.round(s.estimate())).toBe(250);
  });

  it('stays within 3 standard errors from 1 to 10M, across the sparse-to-dense switch', () => {
    const rse = HyperLogLog.RSE;
    expect(rse).toBeLessThan(0.011);
    for (const n of [3_400, 3_600, 5_000, 20_000, 100_000, 1_000_000, 10_000_000]) {
      const e = sketch(1, n + 1).estimate();
      expect(Math.abs(e / n - 1), `n=${n}`).toBeLessThan(3 * rse);
    }
  });

  it('observed relative error over many trials matches the stated 0.81% RSE', () => {
    const errors: number[] = [];
    const n = 30_000;
    for (let t = 0; t < 60; t++) errors.push(sketch(t * 10_000_019, t * 10_000_019 + n).estimate() / n - 1);
    const rms = Math.sqrt(errors.reduce((s, e) => s + e * e, 0) / errors.length);
    expect(rms).toBeLessThan(HyperLogLog.RSE * 1.35);
    expect(errors.filter((e) => Math.abs(e) > 1.96 * HyperLogLog.RSE).length).toBeLessThanOrEqual(8); // ~5% expected outside 95%
  });

  it('merging parts equals the sketch of the whole (register-wise), sparse and dense alike', () => {
    for (const [n, parts] of [
      [2_000, 4],
      [200_000, 7],
    ] as const) {
      const whole = sketch(0, n);
      const merged = new HyperLogLog();
      for (let p = 0; p < parts; p++) merged.merge(sketch(p, n, parts));
      expect(merged.estimate()).toBe(whole.estimate());
    }
    // overlapping parts: the union is counted once
    const a = sketch(0, 60_000);
    const b = sketch(30_000, 90_000);
    expect(a.merge(b).estimate()).toBe(sketch(0, 90_000).estimate());
    // sparse into dense and dense into sparse
    expect(sketch(0, 100).merge(sketch(0, 50_000)).estimate()).toBe(sketch(0, 50_000).estimate());
    expect(sketch(0, 50_000).merge(sketch(49_950, 50_100)).estimate()).toBe(sketch(0, 50_100).estimate());
  });

  it('a merge of sparse parts is byte-for-byte the sketch of the whole, also when the union turns dense', () => {
    for (const [n, parts] of [
      [1_000, 3],
      [3_400, 2],
      [6_000, 2],
      [9_000, 5],
    ] as const) {
      const merged = new HyperLogLog();
      // parts with fresh, unsorted adds (not yet folded) and parts that went through their encoding
      for (let p = 0; p < parts; p++) {
        const part = sketch(p, n, parts);
        merged.merge(p % 2 ? HyperLogLog.deserialize(part.serialize()) : part);
      }
      merged.merge(sketch(0, 500)); // repeats
      const whole = sketch(0, n);
      expect(merged.isSparse, `n=${n}`).toBe(whole.isSparse);
      expect(merged.serialize(), `n=${n}`).toEqual(whole.serialize());
    }
  });

  it('merging thousands of tiny sketches (a product per day) is byte-for-byte the sketch of the whole', () => {
    const merged = new HyperLogLog();
    // 2,000 sketches of 3 ids each, overlapping, in and out of their encoding; the union turns dense
    for (let d = 0; d < 2_000; d++) {
      const tiny = sketch(d * 2, d * 2 + 3);
      merged.merge(d % 2 ? HyperLogLog.deserialize(tiny.serialize()) : tiny);
    }
    expect(merged.serialize()).toEqual(sketch(0, 4_001).serialize());
    const small = new HyperLogLog();
    for (let d = 0; d < 300; d++) small.merge(sketch(d, d + 2));
    expect(small.isSparse).toBe(true);
    expect(small.serialize()).toEqual(sketch(0, 301).serialize());
  });

  it('round-trips through its compact encoding, with a version byte', () => {
    for (const n of [0, 1, 3_000, 100_000]) {
      const h = sketch(0, n);
      const bytes = h.serialize();
      expect(bytes[0]).toBe(1);
      const back = HyperLogLog.deserialize(bytes);
      expect(back.estimate()).toBe(h.estimate());
      expect(back.serialize()).toEqual(bytes);
      if (n >= 100_000) expect(bytes.length).toBe(3 + 12_288); // 6 bits per register
    }
    expect(sketch(0, 3_000).serialize().length).toBeLessThan(12_291);
    expect(() => HyperLogLog.deserialize(new Uint8Array([9, 14, 0]))).toThrow(/unsupported/);
  });
});
