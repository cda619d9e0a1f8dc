import { describe, expect, it } from 'vitest';
import { ALL_TIME, DELTA_MAX_ORDERS } from '../../src/storage/rollups.js';
import type { Db } from '../../src/storage/sqlite.js';
import { catchUpRollups, refreshCatchUpOptions } from '../../src/worker/rollup-catch-up.js';
import type { TaskContext } from '../../src/worker/worker-context.js';
import { makeOrders } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

/** What catchUpRollups uses of a worker's context, over one shard: its builder, a free lock, no metrics. */
function contextOver(db: Db): TaskContext {
  const cached = new Map<string, unknown>();
  return {
    shards: {
      cached: <T>(_tenantId: number, key: string, make: (d: Db) => T): T => {
        if (!cached.has(key)) cached.set(key, make(db));
        return cached.get(key) as T;
      },
    },
    lock: {
      withLock: <T>(_tenantId: number, work: () => T) => work(),
      tryWithLock: <T>(_tenantId: number, work: () => T) => ({ ran: true as const, value: work() }),
      contended: () => false,
    },
    obs: {
      timeQuery: <T>(_name: string, work: () => T) => work(),
      record: () => {},
    },
  } as unknown as TaskContext;
}

const dirty = (db: Db) =>
  (db.prepare('SELECT count(*) AS n FROM rollup_dirty_hours').get() as { n: number }).n;

describe("the upkeep thread's catch-up (refreshCatchUpOptions)", () => {
  const { db, write } = testShard('rollup-catch-up');
  const ctx = contextOver(db);
  const input = { requestId: 'test', tenantId: 1, budgetMs: 0 };

  it('after recent writes, a fold that finds a bulk batch marks its hours and rebuilds none of them', () => {
    write(makeOrders(DELTA_MAX_ORDERS + 200, 'bulk', 3));
    const during = catchUpRollups(ctx, 1, ALL_TIME, refreshCatchUpOptions({ ...input, writing: true }));
    expect(during).toMatchObject({ pending_mode: 'marked', hours: 0 });
    expect(during.remaining).toBeGreaterThan(0);
    expect(dirty(db)).toBe(during.remaining);
  });

  it("between a trickle's writes a run rebuilds a slice; once writes are quiet, as long as its budget", () => {
    const before = dirty(db);
    write(makeOrders(20, 'trickle', 5));
    const slice = catchUpRollups(ctx, 1, ALL_TIME, refreshCatchUpOptions({ ...input, writing: true }));
    expect(slice).toMatchObject({ pending_mode: 'delta', pending_orders: 20 });
    expect(slice.hours).toBeGreaterThan(0);
    expect(dirty(db)).toBe(before - slice.hours);
    const quiet = catchUpRollups(
      ctx,
      1,
      ALL_TIME,
      refreshCatchUpOptions({ ...input, budgetMs: 60_000, writing: false }),
    );
    expect(quiet.remaining).toBe(0);
    expect(dirty(db)).toBe(0);
  });
});
