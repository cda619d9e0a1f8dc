import { describe, expect, it } from 'vitest';
import { TDigest } from '../../src/sketches/tdigest.js';

/** Seeded generator so failures reproduce. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Distance from q to the rank interval of v in sorted data ([share < v, share <= v]); 0 when v is a valid q-quantile. */
function rankError(sorted: Float64Array, v: number, q: number): number {
  const below = (strict: boolean) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (strict ? sorted[mid]! < v : sorted[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo / sorted.length;
  };
  const [a, b] = [below(true), below(false)];
  return q < a ? a - q : q > b ? q - b : 0;
}

const distributions: [string, (r: () => number) => number][] = [
  ['uniform', (r) => r() * 1000],
  [
    'log-normal (order values)',
    (r) => Math.round(Math.exp(7 + Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()))),
  ],
  ['pareto (heavy tail)', (r) => 1 / (1 - r()) ** (1 / 1.1)],
  ['exponential', (r) => -Math.log(1 - r()) * 50],
];

describe('TDigest', () => {
  for (const [name, draw] of distributions) {
    it(`p50/p95/p99 within 0.5% rank error: ${name}, 200k values, whole and merged from 8 parts`, () => {
      const r = rng(name.length * 7919);
      const n = 200_000;
      const xs = new Float64Array(n);
      const whole = new TDigest();
      const parts = Array.from({ length: 8 }, () => new TDigest());
      for (let i = 0; i < n; i++) {
        xs[i] = draw(r);
        whole.add(xs[i]!);
        parts[i % 8]!.add(xs[i]!);
      }
      xs.sort();
      const merged = parts.reduce((a, b) => a.merge(b), new TDigest());
      for (const q of [0.5, 0.95, 0.99]) {
        expect(rankError(xs, whole.quantile(q), q), `whole q=${q}`).toBeLessThan(0.005);
        expect(rankError(xs, merged.quantile(q), q), `merged q=${q}`).toBeLessThan(0.005);
      }
      expect(whole.count).toBe(n);
      expect(merged.count).toBe(n);
      expect(whole.quantile(0)).toBe(xs[0]);
      expect(whole.quantile(1)).toBe(xs[n - 1]);
      expect(whole.centroidCount).toBeLessThan(400);
    });
  }

  it('is exact for a handful of values and handles empty and single digests', () => {
    expect(Number.isNaN(new TDigest().quantile(0.5))).toBe(true);
    const one = new TDigest();
    one.add(42);
    expect(one.quantile(0.01)).toBe(42);
    expect(one.quantile(0.99)).toBe(42);
    const few = new TDigest();
    for (const v of [5, 1, 4, 2, 3]) few.add(v);
    expect(few.quantile(0.5)).toBe(3);
    expect(few.quantile(0)).toBe(1);
    expect(few.quantile(1)).toBe(5);
  });

  it('small samples agree with nearest rank, also at exact rank boundaries', () => {
    const values = Array.from({ length: 20 }, (_, i) => (i + 1) * 100 + (i === 19 ? 5000 : 0));
    const d = new TDigest();
    for (const v of values) d.add(v);
    // 20 values: p95 is the 19th (exactly 95% at or below it), p50 the 10th, p99 the 20th
    expect(d.quantile(0.95)).toBe(1900);
    expect(d.quantile(0.5)).toBe(1000);
    expect(d.quantile(0.99)).toBe(values[19]);
  });

  it('merging many small digests (hourly rollups) keeps the accuracy of one big digest', () => {
    const r = rng(11);
    const all: number[] = [];
    const merged = new TDigest();
    for (let hour = 0; hour < 2000; hour++) {
      const d = new TDigest();
      for (let i = 0; i < 60; i++) {
        const v = Math.round(Math.exp(7 + r() * 2));
        d.add(v);
        all.push(v);
      }
      merged.merge(TDigest.deserialize(d.serialize()));
    }
    const sorted = Float64Array.from(all).sort();
    for (const q of [0.5, 0.95, 0.99]) expect(rankError(sorted, merged.quantile(q), q)).toBeLessThan(0.005);
  });

  it('merging thousands of tiny digests (a product per day) keeps count, extremes and rank accuracy', () => {
    const merged = new TDigest();
    const all: number[] = [];
    for (let d = 0; d < 3_000; d++) {
      const tiny = new TDigest();
      for (let k = 0; k <= d % 3; k++) {
        const v = 100 + ((d * 7_919 + k * 104_729) % 50_000);
        tiny.add(v);
        all.push(v);
      }
      merged.merge(d % 2 ? TDigest.deserialize(tiny.serialize()) : tiny);
    }
    const sorted = Float64Array.from(all).sort();
    expect([merged.count, merged.min, merged.max]).toEqual([all.length, sorted[0], sorted.at(-1)]);
    for (const q of [0.01, 0.5, 0.95, 0.99])
      expect(rankError(sorted, merged.quantile(q), q)).toBeLessThan(0.005);
  });

  it('round-trips through its encoding with a version byte', () => {
    const d = new TDigest(100);
    for (let i = 0; i < 10_000; i++) d.add((i * 7919) % 10_007);
    const bytes = d.serialize();
    expect(bytes[0]).toBe(2);
    const back = TDigest.deserialize(bytes);
    expect(back.compression).toBe(100);
    for (const q of [0.01, 0.5, 0.99]) expect(back.quantile(q)).toBeCloseTo(d.quantile(q), 6);
    expect(back.count).toBe(10_000);
    expect(() => TDigest.deserialize(new Uint8Array([7, 0, 0, 0, 0]))).toThrow(/unsupported/);
  });

  it('stores a few integer values as exact points in a few bytes each, anything else as centroids', () => {
    const few = new TDigest();
    for (const v of [4_999, 12_000, 250, 12_000]) few.add(v);
    const bytes = few.serialize();
    expect(bytes.length).toBeLessThanOrEqual(6 + 2 + 4 * 3);
    const back = TDigest.deserialize(bytes);
    expect([back.min, back.max, back.count]).toEqual([250, 12_000, 4]);
    for (const q of [0, 0.25, 0.5, 0.75, 1]) expect(back.quantile(q)).toBe(few.quantile(q));
    const empty = TDigest.deserialize(new TDigest().serialize());
    expect(empty.count).toBe(0);
    expect(Number.isNaN(empty.quantile(0.5))).toBe(true);
    // fractions and negative values cannot be points: the centroid form keeps them exactly
    const odd = new TDigest();
    for (const v of [-3, 0.5, 7.25]) odd.add(v);
    const oddBack = TDigest.deserialize(odd.serialize());
    expect([oddBack.min, oddBack.max, oddBack.quantile(0.5)]).toEqual([-3, 7.25, 0.5]);
  });

  it('still reads version 1 (rows written before the compact encoding)', () => {
    const v1 = new DataView(new ArrayBuffer(25 + 2 * 12));
    v1.setUint8(0, 1);
    v1.setFloat32(1, 200, true);
    v1.setFloat64(5, 10, true); // min
    v1.setFloat64(13, 30, true); // max
    v1.setUint32(21, 2, true);
    v1.setFloat64(25, 10, true);
    v1.setFloat32(33, 1, true);
    v1.setFloat64(37, 30, true);
    v1.setFloat32(45, 1, true);
    const d = TDigest.deserialize(new Uint8Array(v1.buffer));
    expect([d.compression, d.count, d.min, d.max, d.quantile(1)]).toEqual([200, 2, 10, 30, 30]);
  });
});
