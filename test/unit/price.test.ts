import { describe, expect, it } from 'vitest';
import { assessPrice } from '../../src/domain/price.js';
import { RateLimiter, rateLimitHeaders } from '../../src/http/rate-limit.js';

/** Runs a price sequence through the rule the way the service does: accepted prices become the baseline. */
function run(prices: number[]) {
  let last: number | null = null;
  const history: number[] = [];
  return prices.map((p) => {
    const a = assessPrice(last, history, p);
    history.unshift(p);
    if (!a.anomaly) last = p;
    return a;
  });
}

describe('anomaly rule', () => {
  it('flags a change at the threshold and not just below it', () => {
    expect(assessPrice(1000, [], 1199).anomaly).toBe(false);
    expect(assessPrice(1000, [], 1200)).toMatchObject({
      anomaly: true,
      change_pct: 20,
      reasons: ['threshold'],
    });
    expect(assessPrice(1000, [], 801).anomaly).toBe(false);
    expect(assessPrice(1000, [], 800)).toMatchObject({ anomaly: true, change_pct: -20 });
  });

  it('a first price is never an anomaly; a move away from 0 always is', () => {
    expect(assessPrice(null, [], 5000)).toMatchObject({ anomaly: false, change_pct: null });
    expect(assessPrice(0, [], 5).anomaly).toBe(true);
  });

  it('a spike is flagged once; the return to normal is not, because the spike never became the baseline', () => {
    const out = run([1000, 1010, 990, 1005, 995, 1000, 2500, 1005, 1000]);
    expect(out.map((a) => a.anomaly)).toEqual([false, false, false, false, false, false, true, false, false]);
    expect(out[6]!.reasons).toEqual(['threshold', 'rolling_median']);
  });

  it('a slow steady drift (+3% a step) is not flagged', () => {
    const prices = Array.from({ length: 30 }, (_, i) => Math.round(1000 * 1.03 ** i));
    expect(run(prices).some((a) => a.anomaly)).toBe(false);
  });

  it('the rolling median catches a price far from its history even when the step is small', () => {
    // the last accepted price is close (an earlier accepted step), but the history sits far below
    expect(assessPrice(1900, [1000, 1010, 990, 1005, 995, 1000], 2000)).toMatchObject({
      anomaly: true,
      reasons: ['rolling_median'],
    });
  });
});

describe('RateLimiter', () => {
  it('allows the burst, refuses past it with Retry-After, and refills with time', () => {
    let now = 0;
    const limiter = new RateLimiter({ name: 'product', perSecond: 2, burst: 3 }, 100, () => now);
    expect([1, 2, 3].map(() => limiter.take('p1').allowed)).toEqual([true, true, true]);
    const refused = limiter.take('p1');
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    expect(limiter.take('p2').allowed).toBe(true); // buckets are per key
    now += 500;
    expect(limiter.take('p1').allowed).toBe(true);
    const headers = rateLimitHeaders([refused]);
    expect(headers).toMatchObject({
      'RateLimit-Policy': '"product";q=3;w=2',
      RateLimit: '"product";r=0;t=2',
      'Retry-After': '1',
    });
  });

  it('keeps memory bounded by evicting the least recently used buckets', () => {
    const limiter = new RateLimiter({ name: 'p', perSecond: 1, burst: 1 }, 10);
    for (let i = 0; i < 1000; i++) limiter.take(`k${i}`);
    expect(limiter.size).toBe(10);
  });
});
