import { afterAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/obs/metrics.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { prepareShard, shardPath } from '../../src/storage/shards.js';
import { IdleCollector } from '../../src/worker/idle-collect.js';
import { filesOpenOn } from '../helpers/open-files.js';
import { eventually, ROOT, removeDir, tempDataDir } from '../helpers/server.js';

/** A clock the test moves by hand: timers fire when it passes them. */
function manualTimers() {
  let now = 0;
  const timers = new Map<number, { at: number; run: () => void }>();
  let next = 0;
  return {
    setTimer: (run: () => void, ms: number) => {
      const id = next++;
      timers.set(id, { at: now + ms, run });
      return { id, unref: () => undefined };
    },
    clearTimer: (timer: unknown) => timers.delete((timer as { id: number }).id),
    advance(ms: number) {
      now += ms;
      for (const [id, t] of [...timers]) {
        if (t.at > now) continue;
        timers.delete(id);
        t.run();
      }
    },
  };
}

describe('a worker collecting once it has gone quiet', () => {
  it('collects once per quiet spell, never while a task runs, and a task starting cancels it', () => {
    const clock = manualTimers();
    let collections = 0;
    const idle = new IdleCollector({ quietMs: 100, collect: () => collections++, ...clock });
    idle.taskStarted();
    clock.advance(500);
    expect(collections).toBe(0); // busy: nothing armed
    idle.taskStarted();
    idle.taskEnded();
    clock.advance(500);
    expect(collections).toBe(0); // one task still runs
    idle.taskEnded();
    clock.advance(99);
    expect(collections).toBe(0);
    clock.advance(1);
    expect(collections).toBe(1);
    clock.advance(1000);
    expect(collections).toBe(1); // once per quiet spell, not every period
    idle.taskStarted();
    idle.taskEnded();
    clock.advance(50);
    idle.taskStarted(); // a task within the quiet period: no collection under it
    clock.advance(200);
    expect(collections).toBe(1);
    idle.taskEnded();
    clock.advance(100);
    expect(collections).toBe(2);
  });

  const pools: WorkerPool[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    for (const d of dirs) removeDir(d);
  });

  it.skipIf(process.platform !== 'linux')(
    'a pool worker left quiet closes its shard connections (their page caches) though no task comes to close them',
    async () => {
      const dir = tempDataDir();
      dirs.push(dir);
      prepareShard(dir, 1);
      const pool = new WorkerPool(
        {
          workers: 1,
          tasksPerWorker: 1,
          dataDir: dir,
          logLevel: 'silent',
          quietCollectMs: 400,
          filename: new URL('dist/workers/index.js', `file://${ROOT}`).href,
        },
        new Metrics(),
      );
      pools.push(pool);
      const path = shardPath(dir, 1);
      const before = filesOpenOn(path);
      await pool.run('ping', { requestId: 'quiet', tenantId: 1 });
      // the task's connection stays open after it (a worker closes connections only after a task) ...
      expect(filesOpenOn(path)).toBeGreaterThan(before);
      // ... until the worker has been quiet for quietCollectMs
      await eventually(
        () => filesOpenOn(path) === before,
        5000,
        'the quiet worker closed its shard connection',
      );
    },
  );
});
