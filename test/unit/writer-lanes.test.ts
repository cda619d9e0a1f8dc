import { afterAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/obs/metrics.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { fixtureTasks } from '../helpers/fixture-pool.js';
import { eventually, ROOT, tempDataDir } from '../helpers/server.js';

const pools: WorkerPool[] = [];
function makePool(writerLanes: number): WorkerPool {
  const pool = new WorkerPool(
    {
      workers: 2,
      tasksPerWorker: 1,
      writerLanes,
      dataDir: tempDataDir(),
      logLevel: 'silent',
      filename: new URL('test/fixtures/lane-worker.mjs', `file://${ROOT}`).href,
    },
    new Metrics(),
  );
  pools.push(pool);
  return pool;
}
afterAll(() => Promise.all(pools.map((p) => p.close())));

const whoami = (ms = 0) => ({ requestId: 't', tenantId: 0, ms });

describe('WorkerPool writer lanes', () => {
  it("a tenant's writes always run on one lane thread, tenants spread over lanes, none on a pool thread", async () => {
    const pool = makePool(2);
    const poolThreads = new Set(
      await Promise.all(
        Array.from({ length: 8 }, () => fixtureTasks(pool).run<number>('whoami', whoami(20))),
      ),
    );
    const lane = async (tenantId: number) =>
      new Set(
        await Promise.all(
          Array.from({ length: 6 }, () => fixtureTasks(pool).write<number>(tenantId, 'whoami', whoami(5))),
        ),
      );
    const [a, b, c] = await Promise.all([lane(1), lane(2), lane(3)]);
    expect([a!.size, b!.size, c!.size]).toEqual([1, 1, 1]);
    expect([...a!]).not.toEqual([...b!]);
    expect([...a!]).toEqual([...c!]); // 1 and 3 share a lane of two
    for (const t of [...a!, ...b!]) expect(poolThreads.has(t)).toBe(false);
  });

  it('lane work holds no pool slot; queued writes show in the stats', async () => {
    const pool = makePool(1);
    const writes = Array.from({ length: 3 }, () =>
      fixtureTasks(pool).write<number>(1, 'whoami', whoami(150)),
    );
    // one write runs on the lane, the other two wait for it
    await eventually(() => pool.stats().writesQueued === 2, 5000, 'two writes queued behind the first');
    expect(pool.activeTasks).toBe(0);
    expect(pool.idleWorkers()).toBe(2);
    expect(pool.stats().writesQueued).toBe(2);
    await Promise.all(writes);
    expect(pool.stats().writesQueued).toBe(0);
  });

  it('without lanes, writes run in the pool', async () => {
    const pool = makePool(0);
    const poolThreads = new Set(
      await Promise.all(
        Array.from({ length: 8 }, () => fixtureTasks(pool).run<number>('whoami', whoami(20))),
      ),
    );
    const written = await fixtureTasks(pool).write<number>(1, 'whoami', whoami());
    expect(poolThreads.has(written)).toBe(true);
  });
});

describe('a thread that dies holding a shard lock', () => {
  it('has the lock released by the main thread: the shard is writable again, others were never blocked', async () => {
    const abandoned: number[][] = [];
    const pool = new WorkerPool(
      {
        workers: 2,
        tasksPerWorker: 1,
        writerLanes: 1,
        dataDir: tempDataDir(),
        logLevel: 'silent',
        filename: new URL('test/fixtures/dying-worker.mjs', `file://${ROOT}`).href,
        onAbandonedLocks: (slots) => abandoned.push(slots),
      },
      new Metrics(),
    );
    pools.push(pool);
    const task = (tenantId: number) => ({ requestId: 't', tenantId });
    await expect(fixtureTasks(pool).write(7, 'dieHoldingLock', task(7))).rejects.toThrow();
    // without the release this waits for ever (the test's timeout)
    const thread = await fixtureTasks(pool).run<number>('takeLock', task(7));
    expect(thread).toBeGreaterThan(0);
    expect(abandoned).toEqual([[7]]);
    expect(await fixtureTasks(pool).write<number>(7, 'takeLock', task(7))).toBeGreaterThan(0); // a new lane thread
  });
});
