/**
 * The Piscina worker module: every task the pool can run, by export name. Each task module owns one area.
 */

import type { TaskBase } from '../src/pool/protocol.js';
import { checkTenantPartitions } from '../src/storage/postgres/tenant-check.js';
import { checkShardFile, type ShardCheck } from '../src/storage/shard-check.js';
import { shardPath } from '../src/storage/shards.js';
import { onPostgres, withPostgres } from '../src/worker/postgres.js';
import { defineTask } from '../src/worker/worker-context.js';

/**
 * PRAGMA quick_check or integrity_check of a tenant's shard (src/storage/shard-check.ts); on PostgreSQL a
 * scan or amcheck of its partitions (src/storage/postgres/tenant-check.ts).
 */
export const checkShard = defineTask(
  'checkShard',
  async (ctx, input: TaskBase & { mode: 'quick' | 'full' }): Promise<ShardCheck> =>
    onPostgres(ctx)
      ? withPostgres(
          ctx,
          'tenant_check',
          (client) => checkTenantPartitions(client, input.tenantId, input.mode),
          {
            rerunnable: true,
          },
        )
      : checkShardFile(shardPath(ctx.data.dataDir, input.tenantId), input.mode),
);

/** Round trip through a worker and its shard connection: used by readiness checks and tests. */
export const ping = defineTask('ping', (ctx, input: TaskBase) => {
  const row = ctx.obs.timeQuery('ping', () =>
    ctx.shards.db(input.tenantId).prepare('SELECT count(*) AS n FROM products').get(),
  );
  return { ok: true, row };
});
export { failExport, finishExport, planExport, runExportPart } from './export-job.js';
export {
  createExport,
  expireExports,
  exportTrailer,
  getExport,
  listExports,
  streamExport,
  unfinishedExports,
} from './exports.js';
export { idempotency } from './idempotency.js';
export { ingestParse, ingestWriteParts, settleStock, unzipStream } from './ingest.js';
export { listAnomalies, priceEvents, reviewPriceEvent, tenantSettings } from './prices.js';
export { eraseCustomer } from './privacy.js';
export { salesMetrics, salesMetricsArrow } from './sales.js';
export { search } from './search.js';
export { getProduct, stockBulk } from './stock.js';
export { stripeCuts } from './stripes.js';
export {
  claimUpload,
  createUpload,
  expireUploads,
  finishUpload,
  getUpload,
  recordReceived,
  unfinishedUploads,
  uploadErrors,
} from './uploads.js';
