import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';

export interface RollupRefresherOptions {
  /** quiet time after a shard's last write before a refresh runs for as long as it takes */
  delayMs: number;
  /** while writes go on, a refresh still runs this often, one slice, yielding to the writer */
  maxLagMs: number;
  /** one background run stops after this long and is scheduled again (checkpoints share the thread) */
  runBudgetMs: number;
  /**
   * Whether the shard has rows being written or waiting for its writer now (ShardWriteQueue.writing): a
   * load under way, for which no run starts (a fold takes the write lock from the writer, a rebuild its
   * time and the upkeep thread's memory, and the next transaction makes the rebuilt hours stale again); a
   * read still folds what it must count. A trickle's runs, between its writes, fold and rebuild a slice.
   */
  loading?: (tenantId: number) => boolean;
}

interface ShardState {
  lastWriteAt: number;
  /** when the oldest write not yet folded in was made; null once caught up */
  staleSince: number | null;
  timer: NodeJS.Timeout | null;
  running: boolean;
  /** not before this time: after a run that left work, as long again (the thread rebuilds at most half the time) */
  restAfter: number;
  /** when a run last found so many new orders that it marked their hours dirty (a bulk load's batch) */
  bulkAt: number;
}

/** A run rests at least this long after it, however short it was. */
const MIN_REST_MS = 100;

/**
 * Keeps the metrics pre-aggregates fresh as data arrives: after a shard's orders are written, the upkeep
 * thread folds them in (`refreshRollups`: deltas for a small batch, a rebuild of their hours for a bulk
 * load), so a read finds them current instead of doing it itself. A run comes `delayMs` after the shard's
 * writes go quiet, or `maxLagMs` after the oldest write not yet folded in while writes go on; a run during
 * writes rebuilds at most one slice; none runs while a load is under way (the shard's rows being written or
 * waiting for its writer: `loading`; or a batch so large that its hours were marked dirty folded within the
 * quiet delay, which also ends the run that folded it), and every run stops as soon as the writer waits for
 * the lock, so a bulk load is not slowed by rebuilding hours its next transaction makes stale again. Reads
 * still catch up what is left (workers/sales.ts).
 */
export class RollupRefresher {
  private readonly shards = new Map<number, ShardState>();
  private stopped = false;

  constructor(
    private readonly pool: WorkerPool,
    private readonly log: Logger,
    private readonly options: RollupRefresherOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** A write to the shard committed: its pre-aggregates may be stale now. */
  written(tenantId: number): void {
    if (this.stopped) return;
    const state = this.state(tenantId);
    const now = this.now();
    state.lastWriteAt = now;
    state.staleSince ??= now;
    this.schedule(tenantId, state);
  }

  /** Background refreshes running now (awaited by nobody: a refresh is always safe to cut off). */
  get busy(): number {
    let n = 0;
    for (const s of this.shards.values()) if (s.running) n++;
    return n;
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.shards.values()) if (s.timer) clearTimeout(s.timer);
  }

  private state(tenantId: number): ShardState {
    let state = this.shards.get(tenantId);
    if (!state) {
      state = {
        lastWriteAt: 0,
        staleSince: null,
        timer: null,
        running: false,
        restAfter: 0,
        bulkAt: -Infinity,
      };
      this.shards.set(tenantId, state);
    }
    return state;
  }

  /** Next run: after the quiet delay, or at the lag limit if writes keep coming, whichever is first. */
  private schedule(tenantId: number, state: ShardState): void {
    if (state.running || state.timer || state.staleSince === null || this.stopped) return;
    state.timer = setTimeout(
      () => {
        state.timer = null;
        if (this.dueAt(state) <= this.now()) this.run(tenantId, state);
        else this.schedule(tenantId, state); // written to since: the quiet delay starts again
      },
      Math.max(0, this.dueAt(state) - this.now()),
    );
    state.timer.unref();
  }

  private dueAt(state: ShardState): number {
    const due = Math.min(
      state.lastWriteAt + this.options.delayMs,
      (state.staleSince ?? Number.POSITIVE_INFINITY) + this.options.maxLagMs,
    );
    return Math.max(due, state.restAfter);
  }

  private run(tenantId: number, state: ShardState): void {
    const startedAt = this.now();
    // writes still coming: the new orders and one slice of rebuild; quiet: as long as the budget allows
    const writing = startedAt - state.lastWriteAt < this.options.delayMs;
    // a load under way: rows being written or queued now, or a bulk batch folded within the quiet delay
    // (the pause between a load's requests). No run until it has paused that long: a fold holds the write
    // lock the writer is about to ask for (a 1M-order load ran ~15% slower), a rebuild takes its time and
    // the upkeep thread's memory, and the next request makes both stale. Reads fold what they must count.
    if (
      writing &&
      ((this.options.loading?.(tenantId) ?? false) || startedAt - state.bulkAt < this.options.delayMs)
    ) {
      state.staleSince = startedAt;
      this.schedule(tenantId, state);
      return;
    }
    state.running = true;
    this.pool
      .background('refreshRollups', {
        requestId: 'rollup-refresh',
        tenantId,
        budgetMs: writing ? 0 : this.options.runBudgetMs,
        writing,
      })
      .then(
        (result) => {
          if (result.pending_mode === 'marked') state.bulkAt = startedAt;
          // caught up, unless something was written meanwhile (it is marked dirty: the next run takes it)
          if (result.remaining === 0 && state.lastWriteAt < startedAt) state.staleSince = null;
          // writes still coming and hours left: a slice that rebuilt some goes on after its rest (a load's
          // backlog is rebuilt between a trickle's writes, ~40 hours a second at one slice a lag); one the
          // writer stopped before it rebuilt anything waits a lag
          else if (result.remaining > 0 && writing && result.hours === 0) state.staleSince = this.now();
        },
        (error: Error) => {
          // given up until the next write (a damaged shard is reported by its requests); reads catch up
          this.log.warn({ err: error, tenant_id: tenantId }, 'rollup refresh failed');
          state.staleSince = null;
        },
      )
      .finally(() => {
        state.running = false;
        // other tenants' work and checkpoints get the thread too (half of it at most goes to one shard)
        const took = Math.max(this.now() - startedAt, MIN_REST_MS);
        state.restAfter = this.now() + took;
        if (state.staleSince === null) this.shards.delete(tenantId);
        else this.schedule(tenantId, state);
      });
  }
}
