import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/domain/byte-budget.js';

describe('ByteBudget', () => {
  it('hands out bytes up to its limit, then makes reservations wait, in order, until bytes come back', async () => {
    const seen: number[] = [];
    const budget = new ByteBudget(100, (held) => seen.push(held));
    await budget.reserve(60);
    await budget.reserve(40);
    expect(budget.exhausted).toBe(true);
    const order: string[] = [];
    const big = budget.reserve(80).then(() => order.push('big'));
    const small = budget.reserve(10).then(() => order.push('small')); // not ahead of the big one
    await Promise.resolve();
    expect(order).toEqual([]);
    budget.release(40);
    await Promise.resolve();
    expect(order).toEqual([]); // 60 + 80 > 100
    budget.release(60);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(budget.used).toBe(90);
    expect(seen.at(-1)).toBe(90);
  });

  it('lets one reservation larger than the limit through when nothing else is held', async () => {
    const budget = new ByteBudget(10);
    await budget.reserve(50);
    expect(budget.used).toBe(50);
    const next = budget.reserve(1);
    let done = false;
    void next.then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    budget.release(50);
    await next;
    expect(budget.used).toBe(1);
  });
});
