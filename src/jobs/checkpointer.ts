import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';

/** What `PRAGMA wal_checkpoint(PASSIVE)` reports. */
export interface CheckpointResult {
  /** frames in the WAL, and how many of them are now in the database file */
  log: number;
  checkpointed: number;
}

/**
 * WAL checkpoints for shards written by the writer lanes, run on the pool's upkeep thread. A lane's
 * connection never checkpoints (wal_autocheckpoint = 0), so its commits do not stop to copy the WAL into
 * the database file and fsync it; instead, after each of its writes, this runs a PASSIVE checkpoint from
 * another connection, which proceeds while the lane goes on writing. One at a time per shard; a request
 * that comes while one runs makes one more run after it.
 */
export class WalCheckpointer {
  private readonly running = new Map<number, { again: boolean }>();

  constructor(
    private readonly pool: WorkerPool,
    private readonly log: Logger,
  ) {}

  request(tenantId: number): void {
    const current = this.running.get(tenantId);
    if (current) {
      current.again = true;
      return;
    }
    const state = { again: false };
    this.running.set(tenantId, state);
    const run = (): void => {
      state.again = false;
      this.pool
        .background('checkpointShard', { requestId: 'checkpoint', tenantId })
        .catch((error: Error) => this.log.warn({ err: error, tenant_id: tenantId }, 'checkpoint failed'))
        .finally(() => {
          if (state.again) run();
          else this.running.delete(tenantId);
        });
    };
    run();
  }

  /** Checkpoints still running (awaited at shutdown). */
  get busy(): number {
    return this.running.size;
  }
}
