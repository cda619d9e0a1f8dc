import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { LineTooLong } from '../../src/domain/line-chunker.js';
import { Problem } from '../../src/http/problem.js';
import { BodyError } from '../../src/ingest/body-error.js';
import { poolUnzipper } from '../../src/ingest/unzipper.js';
import { ShardWriteQueue } from '../../src/ingest/write-queue.js';
import { Metrics } from '../../src/obs/metrics.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { serializeError, WorkerTaskError } from '../../src/pool/task-error.js';
import { shardDir, shardPath } from '../../src/storage/shards.js';
import { ROOT, removeDir, tempDataDir } from '../helpers/server.js';

/**
 * Errors crossing the pool keep their identity (issue 21, item 2): a failing task of every kind reaches the
 * main thread as an Error with the worker's class name and SQLite's code, never as a bare object (which
 * Hono cannot even hand to its error handler: an empty 500).
 */
const DAMAGED = 7;
let dir: string;
let pool: WorkerPool;

beforeAll(() => {
  dir = tempDataDir();
  mkdirSync(shardDir(dir), { recursive: true });
  writeFileSync(shardPath(dir, DAMAGED), Buffer.alloc(8192, 0x42)); // not a database
  pool = new WorkerPool(
    {
      workers: 1,
      tasksPerWorker: 2,
      writerLanes: 1,
      dataDir: dir,
      logLevel: 'silent',
      filename: new URL('dist/workers/index.js', `file://${ROOT}`).href,
      upkeepFilename: new URL('dist/workers/upkeep.js', `file://${ROOT}`).href,
    },
    new Metrics(),
  );
});
afterAll(async () => {
  await pool.close();
  removeDir(dir);
});

const base = { requestId: 't', tenantId: DAMAGED };

function expectSqliteNotADb(error: unknown) {
  expect(error).toBeInstanceOf(WorkerTaskError);
  expect(error).toMatchObject({ workerName: 'SqliteError', code: 'SQLITE_NOTADB' });
}

describe('a failing task of every kind', () => {
  it('request/response (pool.run)', async () => {
    expectSqliteNotADb(await pool.run('getProduct', { ...base, productId: 1 }).catch((e: unknown) => e));
  });

  it('writer lane (pool.write, through the write queue)', async () => {
    const queue = new ShardWriteQueue(pool, { commitRows: 1000 });
    const error = await queue
      .write(DAMAGED, {
        requestId: 't',
        kind: 'orders',
        rows: new TextEncoder().encode('[[],[]]'),
        rowCount: 0,
        maxErrors: 1,
      })
      .catch((e: unknown) => e);
    expectSqliteNotADb(error);
  });

  it('background (the upkeep thread)', async () => {
    expectSqliteNotADb(await pool.background('checkpointShard', base).catch((e: unknown) => e));
  });

  it('streaming (pool.stream): the failure arrives in-band with its code', async () => {
    const { body, done } = pool.stream(
      'search',
      {
        ...base,
        filters: {},
        fields: ['order_id'],
        after: null,
        limit: 10,
        format: 'ndjson',
        fingerprint: 'x',
        part: { kind: 'page' },
      },
      { credits: 2, chunkBytes: 4096 },
    );
    await new Response(body).text();
    expect(await done).toMatchObject({ status: 'error', code: 'sqlite_notadb' });
  });

  it('duplex (pool.open: zip inflation): the failure is a BodyError with its status and code', async () => {
    const unzip = poolUnzipper(pool, base);
    const limits = { maxBodyBytes: 1e9, maxDecompressedBytes: 1e9, maxRatio: 100, maxZipMembers: 10 };
    async function* garbage() {
      yield new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6, 7, 8]);
    }
    const error = await (async () => {
      for await (const _ of unzip(garbage(), { wire: 0, out: 0 }, limits));
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyError);
    expect((error as BodyError).status).toBe(400);
  });
});

describe('error classes', () => {
  it('are named after their class, so a failure from a worker says which error it was', () => {
    for (const [error, name] of [
      [new ConfigError('x'), 'ConfigError'],
      [new Problem('validation_failed', 'x'), 'Problem'],
      [new LineTooLong(10, 5), 'LineTooLong'],
      [new BodyError('corrupt_gzip', 'x'), 'BodyError'],
    ] as const)
      expect(serializeError(error).name).toBe(name);
  });
});
