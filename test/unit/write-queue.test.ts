import { describe, expect, it } from 'vitest';
import { emptySummary } from '../../src/domain/ingest-kinds.js';
import type { WritePart, WritePartsInput, WritePartsResult } from '../../src/ingest/write-parts.js';
import { ShardWriteQueue } from '../../src/ingest/write-queue.js';
import type { WorkerPool } from '../../src/pool/pool.js';
import { WorkerTaskError } from '../../src/pool/task-error.js';

/** A pool whose writer answers when told to, recording what each write task carried. */
function fakePool(answer: (input: WritePartsInput) => WritePartsResult | Error) {
  const tasks: { tenantId: number; input: WritePartsInput; release: () => void }[] = [];
  const pool = {
    write: (tenantId: number, _name: string, input: WritePartsInput) =>
      new Promise((resolve, reject) => {
        tasks.push({
          tenantId,
          input,
          release: () => {
            const out = answer(input);
            if (out instanceof Error) reject(out);
            else resolve(out);
          },
        });
      }),
  } as unknown as WorkerPool;
  return { pool, tasks };
}

const part = (
  requestId: string,
  rowCount: number,
  kind: WritePart['kind'] = 'orders',
): Omit<WritePart, 'seq'> => ({
  requestId,
  kind,
  rows: new Uint8Array(8),
  rowCount,
  maxErrors: 10,
});

const allInserted = (input: WritePartsInput): WritePartsResult => ({
  outcomes: input.parts.map((p) => ({ ok: true, summary: { ...emptySummary(), inserted: p.rowCount } })),
  transactions: 1,
  largest: input.parts.reduce((n, p) => n + p.rowCount, 0),
});

const flush = () => new Promise((r) => setImmediate(r));

describe('ShardWriteQueue (group commit)', () => {
  it('sends what gathered while the writer was busy as one task, in arrival order, one kind per task', async () => {
    const { pool, tasks } = fakePool(allInserted);
    const written: number[] = [];
    const queue = new ShardWriteQueue(pool, {
      commitRows: 1000,
      onWritten: (_t, _kind, r) => written.push(r.largest),
    });
    const first = queue.write(1, part('a', 10));
    const later = [
      queue.write(1, part('a', 20)),
      queue.write(1, part('b', 30)),
      queue.write(1, part('c', 5, 'products')),
      queue.write(2, part('d', 7)),
    ];
    expect(tasks.map((t) => [t.tenantId, t.input.parts.length])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(queue.waiting).toBe(3);
    tasks[0]!.release();
    expect((await first).inserted).toBe(10);
    await flush();
    // the two orders parts went together; the products part waits for its own task
    expect(tasks[2]!.input.parts.map((p) => p.requestId)).toEqual(['a', 'b']);
    tasks[2]!.release();
    await flush();
    expect(tasks[3]!.input.parts.map((p) => p.kind)).toEqual(['products']);
    tasks[3]!.release();
    tasks[1]!.release();
    expect((await Promise.all(later)).map((s) => s.inserted)).toEqual([20, 30, 5, 7]);
    expect(written).toEqual([10, 50, 5, 7]);
    expect(queue.waiting).toBe(0);
  });

  it('says whether a shard has rows being written or waiting (a load under way), until its last write ends', async () => {
    const { pool, tasks } = fakePool(allInserted);
    const queue = new ShardWriteQueue(pool, { commitRows: 1000 });
    expect(queue.writing(1)).toBe(false);
    const first = queue.write(1, part('a', 10));
    const second = queue.write(1, part('b', 10)); // waits for the writer
    expect([queue.writing(1), queue.writing(2)]).toEqual([true, false]);
    tasks[0]!.release();
    await first;
    await flush();
    expect(queue.writing(1)).toBe(true); // the second part is being written
    tasks[1]!.release();
    await second;
    await flush();
    expect(queue.writing(1)).toBe(false);
  });

  it('stops gathering at commitRows, but always sends at least one part', async () => {
    const { pool, tasks } = fakePool(allInserted);
    const queue = new ShardWriteQueue(pool, { commitRows: 25 });
    const writes = [
      queue.write(1, part('a', 10)),
      queue.write(1, part('a', 30)),
      queue.write(1, part('a', 10)),
    ];
    writes.push(queue.write(1, part('a', 10)));
    tasks[0]!.release();
    await flush();
    expect(tasks[1]!.input.parts.map((p) => p.rowCount)).toEqual([30]);
    tasks[1]!.release();
    await flush();
    expect(tasks[2]!.input.parts.map((p) => p.rowCount)).toEqual([10, 10]);
    tasks[2]!.release();
    await Promise.all(writes);
  });

  it('with several writers per shard (PostgreSQL), runs that many tasks of one shard at once, each with its share', async () => {
    const { pool, tasks } = fakePool(allInserted);
    const queue = new ShardWriteQueue(pool, { commitRows: 40, writersPerShard: 2 });
    const writes = [10, 10, 10, 10, 10, 10].map((rows) => queue.write(1, part('a', rows)));
    // the first two parts went at once to two writers; the rest wait
    expect(tasks.map((t) => t.input.parts.length)).toEqual([1, 1]);
    expect(queue.waiting).toBe(4);
    tasks[1]!.release();
    await flush();
    // the free writer takes its share of commitRows (40 / 2), not all that waits
    expect(tasks[2]!.input.parts.map((p) => p.rowCount)).toEqual([10, 10]);
    expect(queue.waiting).toBe(2);
    tasks[0]!.release();
    await flush();
    expect(tasks[3]!.input.parts.map((p) => p.rowCount)).toEqual([10, 10]);
    tasks[2]!.release();
    tasks[3]!.release();
    await Promise.all(writes);
    // every part carries its arrival sequence, increasing in the order the parts came
    const seqs = tasks.flatMap((t) => t.input.parts.map((p) => p.seq)).sort((a, b) => a - b);
    expect(new Set(seqs).size).toBe(6);
    const inOrder = [tasks[0]!, tasks[1]!, tasks[2]!, tasks[3]!].flatMap((t) =>
      t.input.parts.map((p) => p.seq),
    );
    expect(inOrder).toEqual(seqs);
  });

  it("with several writers, an upload's next chunk waits for the task writing its previous one; others pass it", async () => {
    const { pool, tasks } = fakePool(allInserted);
    const queue = new ShardWriteQueue(pool, { commitRows: 40, writersPerShard: 2 });
    const chunk = (uploadId: string, n: number) => ({
      ...part(`upload:${uploadId}`, 10),
      upload: {
        uploadId,
        parsed: emptySummary(),
        firstLine: n * 10 + 1,
        lines: 10,
        startOffset: n * 100,
        endOffset: (n + 1) * 100,
      },
    });
    const writes = [
      queue.write(1, chunk('u1', 0)),
      queue.write(1, chunk('u1', 1)),
      queue.write(1, chunk('u1', 2)),
      queue.write(1, part('plain', 10)),
    ];
    // one writer took u1's first chunk; the second passed over u1's next chunks to the plain part
    expect(tasks.map((t) => t.input.parts.map((p) => p.requestId))).toEqual([['upload:u1'], ['plain']]);
    tasks[1]!.release();
    await flush();
    // a free writer, but u1's next chunks still wait for their predecessor
    expect(tasks).toHaveLength(2);
    expect(queue.waiting).toBe(2);
    tasks[0]!.release();
    await flush();
    expect(tasks[2]!.input.parts.map((p) => p.upload?.startOffset)).toEqual([100, 200]);
    tasks[2]!.release();
    await Promise.all(writes);
    expect(queue.waiting).toBe(0);
  });

  it("a part's failure rejects only that part's promise, keeping the error's name and code", async () => {
    const { pool, tasks } = fakePool((input) => ({
      outcomes: input.parts.map((p) =>
        p.requestId === 'bad'
          ? { ok: false as const, error: { name: 'SqliteError', code: 'SQLITE_FULL', message: 'disk full' } }
          : { ok: true as const, summary: emptySummary() },
      ),
      transactions: 2,
      largest: 1,
    }));
    const queue = new ShardWriteQueue(pool, { commitRows: 1000 });
    const blocker = queue.write(1, part('x', 1));
    const good = queue.write(1, part('good', 1));
    const bad = queue.write(1, part('bad', 1));
    tasks[0]!.release();
    await blocker;
    await flush();
    tasks[1]!.release();
    await expect(good).resolves.toMatchObject({ inserted: 0 });
    const error = await bad.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerTaskError);
    expect(error).toMatchObject({ workerName: 'SqliteError', code: 'SQLITE_FULL', message: 'disk full' });
  });

  it('a write task that fails as a whole (the worker died) rejects every part it carried', async () => {
    const { pool, tasks } = fakePool(() => new Error('worker exited'));
    const queue = new ShardWriteQueue(pool, { commitRows: 1000 });
    const writes = [queue.write(1, part('a', 1)), queue.write(1, part('b', 1)), queue.write(1, part('c', 1))];
    const settled = Promise.allSettled(writes);
    tasks[0]!.release();
    await flush();
    tasks[1]!.release();
    const outcomes = await settled;
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(queue.waiting).toBe(0);
  });
});
