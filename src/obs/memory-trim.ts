/**
 * Memory back to the system once a load is over (issue 21, item 8). SQLite's page caches are many small
 * allocations; when a connection closes (a writer lane or the upkeep thread exiting idle, a worker's idle
 * shard connection) glibc keeps the freed pages inside its arenas, resident: measured after a 60 s soak,
 * 191 MB of RSS with 83 MB idle, and 133 MB a moment after one `malloc_trim(0)` in the same process.
 * So the server calls `malloc_trim(0)` (through our optional addon, native/malloc-trim) a few times
 * once its threads have been quiet, never while a task runs: the call walks every arena under its lock.
 */
import { createRequire } from 'node:module';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** Hands free pages inside malloc's arenas back to the system; true if any were released. */
export type MallocTrim = () => boolean;

/** What malloc holds (glibc's mallinfo2): bytes in use and free inside its arenas, and mapped on their own. */
export interface MallocStats {
  inUse: number;
  free: number;
  mapped: number;
}

/**
 * glibc's malloc_trim and mallinfo2 through the addon, or why it is not there: the addon is an optional
 * dependency (npm skips it where it cannot be built), and on a C library other than glibc there is nothing
 * to call (`stats` is undefined before glibc 2.33 too).
 */
export function loadMallocTrim():
  | { trim: MallocTrim; stats: () => MallocStats | undefined }
  | { unavailable: string } {
  try {
    const addon = createRequire(import.meta.url)('@orderflow/malloc-trim') as {
      trim(): boolean | undefined;
      stats(): MallocStats | undefined;
    };
    if (addon.trim() === undefined) return { unavailable: 'the C library is not glibc' };
    return { trim: () => addon.trim() === true, stats: () => addon.stats() };
  } catch (error) {
    return { unavailable: `the addon is not built (${(error as Error).message.split('\n')[0]})` };
  }
}

/** What the trimmer watches: the pool's threads. */
export interface ThreadActivity {
  /** Changes whenever a task starts or ends, on any thread (pool, writer lanes, upkeep). */
  activity(): number;
  /** Tasks running or queued now. */
  busy(): boolean;
  /** Threads that exited so far (an idle lane or upkeep thread leaving frees its page caches). */
  threadExits(): number;
}

export interface TrimOutcome {
  /** RSS before minus after, in bytes (0 when it did not fall) */
  releasedBytes: number;
  rssBytes: number;
  ms: number;
}

export interface MemoryTrimmerOptions {
  trim: MallocTrim;
  threads: ThreadActivity;
  /** How many quiet ticks after the last task still trim: connections close and threads exit in that time. */
  settleTicks: number;
  rss?: () => number;
  now?: () => number;
}

/**
 * Decides, tick by tick, whether to trim: only on a tick with no task running or queued and none started
 * or ended since the previous tick, and only for `settleTicks` such ticks after the last activity (or
 * one more after a thread exits), so an idle server does not trim forever and a busy one never does.
 */
export class MemoryTrimmer {
  private lastActivity = Number.NaN;
  private lastExits = 0;
  private ticksLeft = 0;
  private readonly rss: () => number;
  private readonly now: () => number;

  constructor(private readonly options: MemoryTrimmerOptions) {
    this.rss = options.rss ?? (() => process.memoryUsage.rss());
    this.now = options.now ?? (() => performance.now());
  }

  tick(): TrimOutcome | null {
    const { threads } = this.options;
    const activity = threads.activity();
    if (threads.busy() || activity !== this.lastActivity) {
      this.lastActivity = activity;
      this.ticksLeft = this.options.settleTicks;
      return null;
    }
    const exits = threads.threadExits();
    if (exits !== this.lastExits) {
      this.lastExits = exits;
      this.ticksLeft = Math.max(this.ticksLeft, 1);
    }
    if (this.ticksLeft === 0) return null;
    this.ticksLeft--;
    const before = this.rss();
    const start = this.now();
    this.options.trim();
    const ms = this.now() - start;
    const rssBytes = this.rss();
    return { releasedBytes: Math.max(0, before - rssBytes), rssBytes, ms };
  }
}

/** Settle ticks span this long after the last task: longer than idle shard connections (10 s) and threads (15 s) take to close. */
const SETTLE_MS = 30_000;

/**
 * Runs the trimmer every `intervalMs` on an unreferenced timer, counting what it returns
 * (`process_memory_trims_total`, `process_memory_trimmed_bytes_total`) and logging each trim at debug.
 * Returns the function that stops it, or null when trimming is off or unavailable (said once in the log).
 */
export function startMemoryTrimming(
  intervalMs: number,
  threads: ThreadActivity,
  metrics: Pick<Metrics, 'memoryTrims' | 'memoryTrimmedBytes'>,
  log: Logger,
): (() => void) | null {
  if (intervalMs === 0) return null;
  const loaded = loadMallocTrim();
  if ('unavailable' in loaded) {
    log.info(
      { reason: loaded.unavailable },
      'malloc_trim unavailable: memory freed after a load stays resident in the process',
    );
    return null;
  }
  const trimmer = new MemoryTrimmer({
    trim: loaded.trim,
    threads,
    settleTicks: Math.max(1, Math.ceil(SETTLE_MS / intervalMs)),
  });
  const timer = setInterval(() => {
    const outcome = trimmer.tick();
    if (!outcome) return;
    metrics.memoryTrims.inc();
    metrics.memoryTrimmedBytes.inc(outcome.releasedBytes);
    log.debug(
      {
        released_mb: Math.round(outcome.releasedBytes / 2 ** 20),
        rss_mb: Math.round(outcome.rssBytes / 2 ** 20),
        ms: Math.round(outcome.ms * 10) / 10,
      },
      'idle: memory returned to the system',
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
