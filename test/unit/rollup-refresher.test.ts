import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RollupRefresher } from '../../src/jobs/rollup-refresher.js';
import { createLogger } from '../../src/obs/logger.js';
import type { WorkerPool } from '../../src/pool/pool.js';
import { type CatchUpResult, refreshCatchUpOptions } from '../../src/worker/rollup-catch-up.js';

interface Run {
  at: number;
  tenantId: number;
  budgetMs: number;
  writing: boolean;
}

/**
 * A pool whose upkeep thread answers at once with `remaining` dirty hours left, and how it folded the new
 * orders in (`mode`), recording each run.
 */
function fakePool(
  remaining: () => number,
  mode: () => CatchUpResult['pending_mode'] = () => 'delta',
  hours: () => number = () => 48,
) {
  const runs: Run[] = [];
  const pool = {
    background: (_name: string, input: Omit<Run, 'at'>) => {
      runs.push({ at: Date.now(), ...input });
      return Promise.resolve<CatchUpResult>({
        hours: hours(),
        rows: 100,
        months: 0,
        unfolded_orders: 0,
        oldest_unfolded_ms: null,
        remaining: remaining(),
        pending_orders: 10,
        pending_mode: mode(),
        ms: 5,
      });
    },
  } as unknown as WorkerPool;
  return { pool, runs };
}

const options = { delayMs: 250, maxLagMs: 2000, runBudgetMs: 1000 };
const log = createLogger('silent');

describe('RollupRefresher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refreshes a shard once its writes have been quiet for the delay, for as long as the budget', async () => {
    const { pool, runs } = fakePool(() => 0);
    const refresher = new RollupRefresher(pool, log, options);
    const t0 = Date.now();
    refresher.written(7);
    await vi.advanceTimersByTimeAsync(100);
    refresher.written(7); // the quiet delay starts again
    await vi.advanceTimersByTimeAsync(200);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toMatchObject([{ at: t0 + 350, tenantId: 7, budgetMs: 1000, writing: false }]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(1); // caught up: nothing more until the next write
  });

  it('while writes keep coming, runs a slice at a time: after a rest while slices rebuild, a lag apart when the writer stops them', async () => {
    let left = 1000;
    let rebuilt = 0; // the writer stops every slice before it rebuilds anything
    const { pool, runs } = fakePool(
      () => left,
      () => 'delta',
      () => rebuilt,
    );
    const refresher = new RollupRefresher(pool, log, options);
    for (let t = 0; t < 10_000; t += 100) {
      refresher.written(1);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(runs.length).toBeLessThanOrEqual(6);
    expect(runs.every((r) => r.writing && r.budgetMs === 0)).toBe(true); // one slice each, at most
    // slices that rebuild hours: the next comes after a rest (at least 100 ms), not a whole lag, nor per write
    rebuilt = 48;
    const slow = runs.length;
    for (let t = 0; t < 4_000; t += 20) {
      refresher.written(1);
      await vi.advanceTimersByTimeAsync(20);
    }
    // (the first comes when the lag set by the last stopped slice is up, within 2 s)
    const slices = runs.slice(slow);
    expect(slices.length).toBeGreaterThanOrEqual(8);
    expect(slices.length).toBeLessThanOrEqual(41);
    for (let i = 1; i < slices.length; i++)
      expect(slices[i]!.at - slices[i - 1]!.at).toBeGreaterThanOrEqual(100);
    expect(slices.filter((r) => !(r.writing && r.budgetMs === 0))).toEqual([]);
    // the writes stop: past the quiet delay it catches up in full runs, one after another, until nothing is left
    await vi.advanceTimersByTimeAsync(options.delayMs);
    const during = runs.length;
    left = 500;
    await vi.advanceTimersByTimeAsync(300);
    left = 0;
    await vi.advanceTimersByTimeAsync(200); // the run after the last rest finds nothing left
    const after = runs.slice(during);
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.every((r) => !r.writing && r.budgetMs === 1000)).toBe(true);
    const settled = runs.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(settled);
  });

  it("runs nothing while the shard is being loaded or in a load's pauses; a slice between a trickle's writes", async () => {
    const { pool, runs } = fakePool(() => 1000);
    let loading = true;
    const refresher = new RollupRefresher(pool, log, { ...options, loading: () => loading });
    for (let t = 0; t < 5_000; t += 100) {
      refresher.written(1);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(runs).toEqual([]);
    // the load is over, a trickle goes on: between its writes no rows wait for the writer
    loading = false;
    for (let t = 0; t < 5_000; t += 100) {
      refresher.written(1);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.every((r) => r.writing && r.budgetMs === 0)).toBe(true);
    refresher.stop();
    // a run in a load's pause whose fold finds a bulk batch (its hours marked dirty): no run for the quiet
    // delay after it, though no rows wait for the writer (the next request is likely on its way); then the
    // writes turn into a trickle and the runs come back, a lag apart
    let calls = 0;
    const paused = fakePool(
      () => 1000,
      () => (calls++ === 0 ? 'marked' : 'delta'),
    );
    const slow = { delayMs: 5_000, maxLagMs: 1_000, runBudgetMs: 1_000, loading: () => false };
    const between = new RollupRefresher(paused.pool, log, slow);
    for (let t = 0; t < 9_000; t += 100) {
      between.written(2);
      await vi.advanceTimersByTimeAsync(100);
    }
    between.stop();
    const [bulk, ...after] = paused.runs;
    expect(bulk).toBeDefined();
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.every((r) => r.at - bulk!.at >= slow.delayMs)).toBe(true);
    // what the upkeep thread makes of it: a run after recent writes whose fold finds a bulk batch stops there
    const input = { requestId: 'r', tenantId: 1, budgetMs: 0 };
    expect(refreshCatchUpOptions({ ...input, writing: true })).toMatchObject({
      yieldToWriters: true,
      bulkEndsRun: true,
    });
    expect(refreshCatchUpOptions({ ...input, writing: false })).toMatchObject({ bulkEndsRun: false });
  });

  it('with work left, rests as long as each run took: the thread rebuilds at most half the time', async () => {
    const runs: { start: number; end: number }[] = [];
    const pool = {
      background: () => {
        const start = Date.now();
        return new Promise((resolve) =>
          setTimeout(() => {
            runs.push({ start, end: Date.now() });
            resolve({
              hours: 48,
              rows: 1,
              months: 0,
              remaining: 100,
              pending_orders: 0,
              pending_mode: 'none',
              ms: 400,
            });
          }, 400),
        );
      },
    } as unknown as WorkerPool;
    const refresher = new RollupRefresher(pool, log, options);
    refresher.written(5);
    await vi.advanceTimersByTimeAsync(5000);
    refresher.stop();
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < runs.length; i++)
      expect(runs[i]!.start - runs[i - 1]!.end).toBeGreaterThanOrEqual(400);
  });

  it('a failed refresh waits for the next write instead of retrying in a loop', async () => {
    const runs: number[] = [];
    const pool = {
      background: () => {
        runs.push(Date.now());
        return Promise.reject(new Error('SQLITE_CORRUPT'));
      },
    } as unknown as WorkerPool;
    const refresher = new RollupRefresher(pool, log, options);
    refresher.written(3);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(1);
    refresher.written(3);
    await vi.advanceTimersByTimeAsync(300);
    expect(runs).toHaveLength(2);
  });

  it('stop() cancels what is scheduled', async () => {
    const { pool, runs } = fakePool(() => 0);
    const refresher = new RollupRefresher(pool, log, options);
    refresher.written(1);
    refresher.stop();
    refresher.written(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(runs).toEqual([]);
  });
});
