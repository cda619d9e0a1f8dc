/**
 * The upkeep thread's worker module: background work on shards that no request waits for. Kept apart from
 * workers/index.ts so the thread loads only what it runs (an isolate with every task module costs ~12 MB).
 */
import type { CheckpointResult } from '../src/pool/checkpointer.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { defineTask } from '../src/pool/worker-context.js';

/**
 * A PASSIVE checkpoint of the shard's WAL from this thread's connection (the upkeep thread): copies what it
 * can into the database file without waiting for, or blocking, the writer.
 */
export const checkpointShard = defineTask('checkpointShard', (ctx, input: TaskBase): CheckpointResult => {
  const [row] = ctx.obs.timeQuery('wal_checkpoint', () =>
    ctx.shards.db(input.tenantId).pragma('wal_checkpoint(PASSIVE)'),
  ) as { busy: number; log: number; checkpointed: number }[];
  const result = { log: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 };
  // frames left in the WAL after the checkpoint: 0 when it caught up with the writer
  ctx.obs.record('wal_frames_behind', { tenant: String(input.tenantId) }, result.log - result.checkpointed);
  ctx.log.debug(result, 'checkpoint');
  return result;
});
