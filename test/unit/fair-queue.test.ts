import { type PiscinaTask, queueOptionsSymbol } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/obs/metrics.js';
import { FairTaskQueue, forTenantQueue } from '../../src/pool/fair-queue.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { fixtureTasks } from '../helpers/fixture-pool.js';
import { ROOT, tempDataDir } from '../helpers/server.js';

/** A queued task as Piscina hands it to the queue: its input's queue options under the symbol. */
function task(tenantId: number | undefined, label: string): PiscinaTask & { label: string } {
  const input = forTenantQueue({ label }, tenantId) as unknown as { [queueOptionsSymbol]: object };
  return { label, [queueOptionsSymbol]: input[queueOptionsSymbol] } as unknown as PiscinaTask & {
    label: string;
  };
}

function drain(queue: FairTaskQueue): string[] {
  const out: string[] = [];
  for (let t = queue.shift(); t; t = queue.shift()) out.push((t as unknown as { label: string }).label);
  return out;
}

describe('FairTaskQueue', () => {
  it("takes tenants in turns, one task each, every tenant's tasks in the order they came", () => {
    const queue = new FairTaskQueue();
    for (const t of [task(1, 'a1'), task(1, 'a2'), task(1, 'a3'), task(2, 'b1'), task(1, 'a4')])
      queue.push(t);
    queue.push(task(3, 'c1'));
    queue.push(task(2, 'b2'));
    expect(queue.size).toBe(7);
    expect(queue.queuedFor(1)).toBe(4);
    expect(queue.tenantsWaiting).toBe(3);
    expect(drain(queue)).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4']);
    expect([queue.size, queue.tenantsWaiting, queue.queuedFor(1)]).toEqual([0, 0, 0]);
  });

  it('a task put back (unshift) is served next, before the rest of its tenant and the other tenants', () => {
    const queue = new FairTaskQueue();
    for (const t of [task(1, 'a1'), task(1, 'a2'), task(2, 'b1'), task(3, 'c1')]) queue.push(t);
    const first = queue.shift()!; // a1; tenant 1 goes to the back of the turn
    const second = queue.shift()!; // b1
    queue.unshift(second); // Piscina could not place it: it goes back where it was, first in line
    expect(queue.size).toBe(3);
    expect(drain(queue)).toEqual(['b1', 'c1', 'a2']);
    queue.unshift(first);
    expect(drain(queue)).toEqual(['a1']);
  });

  it('removes a task (an aborted one) wherever it waits; tasks for no tenant share a turn of their own', () => {
    const queue = new FairTaskQueue();
    const gone = task(1, 'a2');
    for (const t of [task(1, 'a1'), gone, task(undefined, 'x1'), task(undefined, 'x2'), task(2, 'b1')])
      queue.push(t);
    queue.remove(gone);
    queue.remove(gone); // twice: nothing more happens
    expect(queue.size).toBe(4);
    expect(drain(queue)).toEqual(['a1', 'x1', 'b1', 'x2']);
  });
});

describe('the pool queue', () => {
  const pools: WorkerPool[] = [];
  afterAll(() => Promise.all(pools.map((p) => p.close())));

  it('serves tenants in turns: a tenant that queued many tasks does not hold back another', async () => {
    const pool = new WorkerPool(
      {
        workers: 1,
        tasksPerWorker: 1,
        dataDir: tempDataDir(),
        logLevel: 'silent',
        filename: new URL('test/fixtures/lane-worker.mjs', `file://${ROOT}`).href,
      },
      new Metrics(),
    );
    pools.push(pool);
    const done: string[] = [];
    const run = (tenantId: number, label: string) =>
      fixtureTasks(pool)
        .run('whoami', { requestId: label, tenantId, ms: 30 })
        .then(() => done.push(label));
    await run(0, 'warm'); // the worker is up: the next task goes to it at once
    // all submitted in one go: hog0 runs, hog1..7 wait, then the victim's two
    const hog = Array.from({ length: 8 }, (_, i) => run(1, `hog${i}`));
    expect(pool.queuedFor(1)).toBe(7);
    const victim = [run(2, 'victim0'), run(2, 'victim1')];
    expect(pool.stats().tenantsWaiting).toBe(2);
    await Promise.all([...hog, ...victim]);
    // first come, first served would finish both victims last, behind all eight
    expect(done).toEqual([
      'warm',
      'hog0',
      'hog1',
      'victim0',
      'hog2',
      'victim1',
      'hog3',
      'hog4',
      'hog5',
      'hog6',
      'hog7',
    ]);
  });
});
