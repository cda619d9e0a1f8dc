import { describe, expect, it } from 'vitest';
import { refreshGivingWay } from '../../src/jobs/pg-rollup-refresher.js';
import type { WorkerPool } from '../../src/pool/pool.js';

/** A pool whose refresh task runs `ms` and reports the flag it was handed as it ends. */
function poolSeeing(ms: number) {
  const seen: { stopFlag: SharedArrayBuffer | null; raisedAtEnd: boolean | null }[] = [];
  const pool = {
    background: async (_task: string, input: { stopFlag: SharedArrayBuffer | null }) => {
      await new Promise((r) => setTimeout(r, ms));
      seen.push({
        stopFlag: input.stopFlag,
        raisedAtEnd: input.stopFlag ? Atomics.load(new Int32Array(input.stopFlag), 0) !== 0 : null,
      });
      return null;
    },
  } as unknown as WorkerPool;
  return { pool, seen };
}

describe('the PostgreSQL refresher gives way to this server writing the tenant', () => {
  it('raises the shared flag once the tenant is being written, and only then', async () => {
    const { pool, seen } = poolSeeing(300);
    let writing = false;
    setTimeout(() => {
      writing = true;
    }, 100);
    await refreshGivingWay(pool, 7, () => writing);
    expect(seen).toEqual([{ stopFlag: expect.any(SharedArrayBuffer), raisedAtEnd: true }]);
    const quiet = poolSeeing(200);
    await refreshGivingWay(quiet.pool, 7, () => false);
    expect(quiet.seen[0]!.raisedAtEnd).toBe(false);
  });

  it('hands no flag to a refresh that must not give way (its writes lagged)', async () => {
    const { pool, seen } = poolSeeing(10);
    await refreshGivingWay(pool, 7, null);
    expect(seen).toEqual([{ stopFlag: null, raisedAtEnd: null }]);
  });
});
