import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/obs/metrics.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { fixtureTasks } from '../helpers/fixture-pool.js';
import { eventually, ROOT, tempDataDir } from '../helpers/server.js';

const progressBuffer = new SharedArrayBuffer(8);
const progress = new Int32Array(progressBuffer);
let pool: WorkerPool;

beforeAll(() => {
  pool = new WorkerPool(
    {
      workers: 1,
      tasksPerWorker: 1,
      dataDir: tempDataDir(),
      logLevel: 'silent',
      filename: new URL('test/fixtures/stream-worker.mjs', `file://${ROOT}`).href,
      workerData: { progress: progressBuffer },
    },
    new Metrics(),
  );
});
afterAll(() => pool.close());

const base = { requestId: 't', tenantId: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker streaming primitive', () => {
  it('delivers every row in order and ends with the metadata', async () => {
    const { body, done } = fixtureTasks(pool).stream(
      'counter',
      { ...base, rows: 5000, lineBytes: 20 },
      { credits: 2, chunkBytes: 4096 },
    );
    const text = await new Response(body).text();
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(5000);
    expect(lines.every((l, i) => l.endsWith(String(i)) && l.length === 19)).toBe(true);
    const outcome = await done;
    expect(outcome.status).toBe('complete');
    expect(outcome.meta).toEqual({ rows: 5000 });
  });

  it('a consumer that does not read bounds the producer to its credits', async () => {
    const credits = 3;
    const { body, done } = fixtureTasks(pool).stream(
      'counter',
      { ...base, rows: 1_000_000, lineBytes: 100 },
      { credits, chunkBytes: 1024 },
    );
    const reader = body.getReader();
    // Nothing read: the worker produces its initial credits, then stops (still so a while later).
    await eventually(() => Atomics.load(progress, 0) === credits, 5000, 'the initial credits produced');
    await sleep(200);
    expect(Atomics.load(progress, 0)).toBe(credits);
    for (let i = 0; i < 10; i++) await reader.read();
    // Each chunk taken grants one more: produced = taken + credits, never more.
    await eventually(() => Atomics.load(progress, 0) === 10 + credits, 5000, 'one chunk per credit granted');
    await sleep(200);
    expect(Atomics.load(progress, 0)).toBe(10 + credits);
    expect(Atomics.load(progress, 1)).toBe(0);
    await reader.cancel();
    expect((await done).status).toBe('cancelled');
  });

  it('cancelling the stream stops the worker loop and frees the worker', async () => {
    const { body, done } = fixtureTasks(pool).stream(
      'counter',
      { ...base, rows: 10_000_000, lineBytes: 100 },
      { credits: 2, chunkBytes: 1024 },
    );
    const reader = body.getReader();
    for (let i = 0; i < 3; i++) await reader.read();
    await reader.cancel();
    await eventually(() => Atomics.load(progress, 1) === 1, 2000, 'producer loop to exit');
    expect((await done).status).toBe('cancelled');
    const producedAtExit = Atomics.load(progress, 0);
    expect(producedAtExit).toBeLessThan(10);
    await eventually(() => pool.activeTasks === 0, 2000, 'task to finish');
    // The single worker is free again: a new stream runs to completion.
    const next = fixtureTasks(pool).stream(
      'counter',
      { ...base, rows: 10, lineBytes: 10 },
      { credits: 2, chunkBytes: 1024 },
    );
    expect((await new Response(next.body).text()).split('\n')).toHaveLength(11);
  });

  it('a failure after the first byte ends with an in-band error, not silence', async () => {
    const { body, done } = fixtureTasks(pool).stream(
      'counter',
      { ...base, rows: 1000, lineBytes: 50, failAt: 500 },
      { credits: 2, chunkBytes: 1024 },
    );
    const lines = (await new Response(body).text()).trimEnd().split('\n');
    expect(lines.length).toBe(501);
    expect(JSON.parse(lines.at(-1)!)).toEqual({
      _meta: { error: { code: 'test_failure', detail: 'disk on fire' } },
    });
    const outcome = await done;
    expect(outcome).toMatchObject({ status: 'error', code: 'test_failure' });
  });
});
