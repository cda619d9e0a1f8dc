import { describe, expect, it } from 'vitest';
import { RollupBuilder } from '../../src/storage/rollups.js';
import { createWriteLockBuffer, ShardWriteLock } from '../../src/storage/write-lock.js';
import { foldPending } from '../../src/worker/rollup-catch-up.js';
import { makeOrders } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

const { db, write } = testShard('fold-pending');
const builder = new RollupBuilder(db);
const lock = new ShardWriteLock(createWriteLockBuffer());
const real = {
  locked: <T>(work: () => T) => lock.withLock(1, work),
  tryLocked: <T>(work: () => T) => lock.tryWithLock(1, work),
};
/** The lock as another thread holding it sees it: trying fails, waiting runs once it is released. */
const held = { locked: <T>(work: () => T) => work(), tryLocked: () => ({ ran: false }) as const };

describe('folding new orders in on an approx read', () => {
  it('folds them at once when the write lock is free', () => {
    write(makeOrders(20, 'free'));
    expect(foldPending(builder, real, 1500)).toEqual({
      orders: 20,
      mode: 'delta',
      unfolded: 0,
      oldestUnfoldedMs: null,
    });
  });

  it('leaves orders a moment old unfolded rather than wait for a held lock, and says how many and how old', () => {
    write(makeOrders(7, 'young'));
    const now = Date.now();
    const left = foldPending(builder, held, 1500, { now });
    expect(left).toMatchObject({ orders: 0, mode: 'none', unfolded: 7 });
    expect(left.oldestUnfoldedMs).toBeGreaterThanOrEqual(0);
    expect(left.oldestUnfoldedMs).toBeLessThan(1500);
    expect(builder.pendingAge().orders).toBe(7); // still pending
  });

  it('waits for the lock once a pending order is older than the bound, and an exact read always waits', () => {
    expect(foldPending(builder, held, 1500, { now: Date.now() + 1600 })).toMatchObject({
      orders: 7,
      unfolded: 0,
    });
    write(makeOrders(3, 'exact'));
    expect(foldPending(builder, held, undefined)).toMatchObject({ orders: 3, unfolded: 0 });
    expect(builder.pendingAge()).toEqual({ orders: 0, oldestIngestedAt: null });
  });

  it('with the upkeep thread folding, leaves orders a moment old even when the lock is free', () => {
    write(makeOrders(5, 'upkeep'));
    expect(foldPending(builder, real, 1500, { youngLeftToUpkeep: true })).toMatchObject({
      orders: 0,
      unfolded: 5,
    });
    expect(
      foldPending(builder, real, 1500, { youngLeftToUpkeep: true, now: Date.now() + 1600 }),
    ).toMatchObject({
      orders: 5,
      unfolded: 0,
    });
  });

  it('takes no lock when nothing is pending: a read does not queue behind a rebuild slice for nothing', () => {
    expect(builder.hasPending()).toBe(false);
    const refused = {
      locked: (): never => {
        throw new Error('the lock was taken');
      },
      tryLocked: (): never => {
        throw new Error('the lock was tried');
      },
    };
    for (const bound of [undefined, 1500])
      expect(foldPending(builder, refused, bound)).toEqual({
        orders: 0,
        mode: 'none',
        unfolded: 0,
        oldestUnfoldedMs: null,
      });
    write(makeOrders(2, 'after'));
    expect(builder.hasPending()).toBe(true);
    expect(foldPending(builder, real, undefined)).toMatchObject({ orders: 2, unfolded: 0 });
  });

  it('tryWithLock runs only when the lock is free', () => {
    expect(lock.withLock(1, () => lock.tryWithLock(1, () => 'inside'))).toEqual({ ran: false });
    expect(lock.tryWithLock(1, () => 'free')).toEqual({ ran: true, value: 'free' });
  });
});
