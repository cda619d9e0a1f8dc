import { afterAll, describe, expect, it } from 'vitest';
import type { OrderPosition } from '../../src/domain/cursor.js';
import { Metrics } from '../../src/obs/metrics.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { shardPath } from '../../src/storage/shards.js';
import { order } from '../helpers/data.js';
import { filesOpenOn } from '../helpers/open-files.js';
import { ROOT } from '../helpers/server.js';
import { testShard } from '../helpers/shard.js';

describe('cutting a result into stripes', () => {
  const shard = testShard('stripe-cuts');
  shard.write(Array.from({ length: 40 }, (_, i) => order(i + 1)));
  const newestFirst = shard.db
    .prepare(
      'SELECT created_at AS createdAt, order_pk AS orderPk FROM orders ORDER BY created_at DESC, order_pk DESC',
    )
    .all() as OrderPosition[];
  // closed, so no connection of this thread keeps SQLite from closing the worker's files (it defers closing
  // a file while another connection of the process holds locks on it)
  shard.db.close();
  const pool = new WorkerPool(
    {
      workers: 1,
      tasksPerWorker: 1,
      dataDir: shard.dir,
      logLevel: 'silent',
      quietCollectMs: 60_000,
      filename: new URL('dist/workers/index.js', `file://${ROOT}`).href,
    },
    new Metrics(),
  );
  afterAll(() => pool.close());

  it.skipIf(process.platform !== 'linux')(
    "scans the index on a connection of its own, closed after it: the worker's shared page cache is not filled with pages read once",
    async () => {
      const path = shardPath(shard.dir, 1);
      const before = filesOpenOn(path);
      const cut = await pool.run('stripeCuts', {
        requestId: 'cuts',
        tenantId: 1,
        filters: {},
        after: null,
        every: 10,
        count: 3,
      });
      expect(cut.cuts).toEqual([newestFirst[9], newestFirst[19], newestFirst[29]]);
      expect(cut.taken).toBe(30);
      // a task on the thread's shared connection leaves it open (it closes after 10 s idle)
      expect(filesOpenOn(path)).toBe(before);
    },
  );
});
