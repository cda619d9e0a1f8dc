import { describe, expect, it } from 'vitest';
import { startJournalBackfill } from '../../src/jobs/journal-backfill.js';
import { createLogger } from '../../src/obs/logger.js';
import type { WorkerPool } from '../../src/pool/pool.js';
import { journalBackfillStep, journalFrom } from '../../src/storage/order-journal.js';
import { makeOrders } from '../helpers/data.js';
import { eventually } from '../helpers/server.js';
import { forgetJournal, testShard } from '../helpers/shard.js';

/** Two tenants' shards: tenant 1 from before the journal (5,000 orders), tenant 2 journalled from the start. */
const older = testShard('journal-backfill-older');
older.write(makeOrders(5000, 'B'));
forgetJournal(older.db);
const newer = testShard('journal-backfill-newer');
newer.write(makeOrders(100, 'N'));
const shards = new Map([
  [1, older.db],
  [2, newer.db],
]);

/** A pool whose upkeep thread runs the task on the test shards at once, recording each call. */
function fakePool() {
  const calls: { tenantId: number; maxOrders: number }[] = [];
  const pool = {
    background: (_name: string, input: { tenantId: number; maxOrders: number }) => {
      calls.push({ tenantId: input.tenantId, maxOrders: input.maxOrders });
      return Promise.resolve(journalBackfillStep(shards.get(input.tenantId)!, input.maxOrders));
    },
  } as unknown as Pick<WorkerPool, 'background'>;
  return { pool, calls };
}

describe('taking the orders from before the journal in, at start', () => {
  it('takes a shard in a chunk at a time until its journal holds every order; a whole journal costs one call', async () => {
    const { pool, calls } = fakePool();
    const stop = startJournalBackfill({
      pool,
      log: createLogger('silent'),
      tenantIds: () => [1, 2],
      chunkOrders: 1000,
    });
    await eventually(() => calls.some((c) => c.tenantId === 2), 10_000, 'the second tenant');
    stop();
    expect(calls.filter((c) => c.tenantId === 1)).toHaveLength(5);
    expect(calls.filter((c) => c.tenantId === 2)).toHaveLength(1);
    expect(journalFrom(older.db)).toBe(1);
    const journalled = older.db.prepare('SELECT sum(orders) FROM order_journal').pluck().get();
    expect(journalled).toBe(5000);
  });

  it('goes on with the next tenant when one fails, and logs which', async () => {
    const { pool, calls } = fakePool();
    const failing = {
      background: (name: string, input: { tenantId: number; maxOrders: number }) =>
        input.tenantId === 3
          ? Promise.reject(new Error('SQLITE_CORRUPT: database disk image is malformed'))
          : (pool.background as (n: string, i: typeof input) => Promise<unknown>)(name, input),
    } as unknown as Pick<WorkerPool, 'background'>;
    const logged: Record<string, unknown>[] = [];
    const log = createLogger('silent');
    log.error = ((obj: Record<string, unknown>) => logged.push(obj)) as typeof log.error;
    const stop = startJournalBackfill({ pool: failing, log, tenantIds: () => [3, 2], chunkOrders: 1000 });
    await eventually(() => calls.some((c) => c.tenantId === 2), 10_000, 'the tenant after the failing one');
    stop();
    expect(logged).toMatchObject([{ tenant_id: 3 }]);
  });

  it('stops between chunks when told', async () => {
    forgetJournal(older.db);
    const { pool, calls } = fakePool();
    const stop = startJournalBackfill({
      pool,
      log: createLogger('silent'),
      tenantIds: () => [1],
      chunkOrders: 1000,
    });
    await eventually(() => calls.length >= 1, 10_000, 'a first chunk');
    stop();
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the rest between chunks
    expect(calls.length).toBeLessThan(5);
    expect(journalFrom(older.db)).toBeGreaterThan(1);
  });
});
