import { describe, expect, it } from 'vitest';
import { RateMeter } from '../../src/obs/rate-meter.js';

describe('RateMeter', () => {
  it('reports events per second over completed seconds of the window', () => {
    let now = 1_000_000;
    const meter = new RateMeter(5, () => now);
    for (let s = 0; s < 4; s++) {
      meter.add(100);
      now += 1000;
    }
    // 4 full seconds of 100 each inside a window that counts 4 completed seconds
    expect(meter.perSecond()).toBe(100);
    now += 10_000;
    expect(meter.perSecond()).toBe(0);
  });
});
