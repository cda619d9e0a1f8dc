import { MessageChannel, type MessagePort, type Transferable } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ThreadActivity } from '../obs/memory-trim.js';
import type { Metrics } from '../obs/metrics.js';
import { RateMeter } from '../obs/rate-meter.js';
import type { SqliteSettings } from '../storage/sqlite.js';
import { createWriteLockBuffer, ShardWriteLock } from '../storage/write-lock.js';
import { FairTaskQueue, forTenantQueue } from './fair-queue.js';
import type { TaskBase, TaskEnvelope } from './protocol.js';
import { receiveStream, type StreamHandle, type StreamOptions } from './stream-receiver.js';
import { WorkerTaskError } from './task-error.js';

import type {
  DuplexTaskInput,
  DuplexTaskName,
  PoolTaskInput,
  PoolTaskName,
  PoolTaskResult,
  StreamTaskInput,
  StreamTaskName,
  UpkeepTaskInput,
  UpkeepTaskName,
  UpkeepTaskResult,
} from './task-registry.js';

export interface PoolOptions {
  workers: number;
  tasksPerWorker: number;
  dataDir: string;
  logLevel: string;
  /** The worker module; defaults to the built workers/index.js. */
  filename?: string;
  /** The upkeep thread's module; defaults to the built workers/upkeep.js. */
  upkeepFilename?: string;
  /** V8 heap limits of each worker thread, in MiB. */
  heap?: { youngMb: number; oldMb: number };
  /** Extra data every worker receives (e.g. secrets, limits). */
  workerData?: Record<string, unknown>;
  /** Single-thread writer lanes for bulk inserts (see WorkerPool.write); 0 runs writes in the pool. */
  writerLanes?: number;
  /**
   * Write tasks a lane runs at once (default 1). SQLite: one, a shard has one writer. PostgreSQL: a lane's
   * tasks wait on the database, each on its own connection, so several of one tenant run together.
   */
  laneTasks?: number;
  /** How each role's threads open their shards (page caches, mmap, the writer lanes' fsync). */
  sqlite?: SqliteSettings;
  /** A writer lane or the upkeep thread idle this long exits (default IDLE_THREAD_MS). */
  idleThreadMs?: number;
  /** A thread that ran no task this long closes its shard connections and collects its heap (default 10 s). */
  quietCollectMs?: number;
  /** Told of shard locks released because the thread holding them died (their slots: tenant id modulo 4096). */
  onAbandonedLocks?: (slots: number[]) => void;
}

export interface WorkerData {
  dataDir: string;
  logLevel: string;
  writeLock: SharedArrayBuffer;
  /** a pool worker, a writer lane (its connections: a bigger cache, no inline checkpoints), or the upkeep thread */
  role: 'pool' | 'lane' | 'upkeep';
  sqlite: SqliteSettings;
  /** where tenant data lives: SQLite shards under dataDir, or PostgreSQL (issue 17) */
  storage?: { kind: 'sqlite' | 'postgres'; databaseUrl: string | null };
  /** tasks the thread runs at once (the pool's tasks per worker, a lane's laneTasks): its PostgreSQL connections follow */
  tasksPerThread?: number;
  /** see PoolOptions.quietCollectMs */
  quietCollectMs?: number;
  [key: string]: unknown;
}

/** A writer lane or the upkeep thread idle this long exits (started again by the next task). */
const IDLE_THREAD_MS = 15_000;

/** The Piscina pool, its writer lanes, its metrics bridge, and the main-thread end of the streaming primitive. */
export class WorkerPool {
  readonly piscina: Piscina;
  /** The pool's waiting tasks, by tenant in turns. */
  private readonly queue = new FairTaskQueue();
  /**
   * One-thread pools running the same worker module, for bulk inserts: a shard's writes always land on
   * the same lane (tenant id modulo lanes), so one connection writes it and keeps its page cache. When two
   * connections take turns, each discards its whole cache at the start of every transaction because the
   * other changed the file (perf/ingest --writer-lanes 0: the time inside insert transactions 1.19–1.39×
   * the raw insert's with two alternating writers, 1.09–1.15× with a lane).
   */
  private readonly lanes: Piscina[];
  /**
   * One thread for background upkeep of shards (WAL checkpoints): work no request waits for, kept off the
   * writer lanes (their commits would wait for it) and off the pool (it would hold a slot for seconds).
   */
  private upkeepPool: Piscina | null = null;
  private readonly startUpkeep: () => Piscina;
  private readonly drained = new RateMeter(10);
  /** Tasks that can run at once: workers x tasks per worker. */
  readonly capacity: number;
  /** The shards' write lock, shared by every worker (and the inline ingest path). */
  readonly writeLock: SharedArrayBuffer;

  constructor(
    options: PoolOptions,
    private readonly metrics: Metrics,
  ) {
    this.capacity = options.workers * options.tasksPerWorker;
    this.writeLock = createWriteLockBuffer();
    const workerData = (role: WorkerData['role']): WorkerData => ({
      dataDir: options.dataDir,
      logLevel: options.logLevel,
      writeLock: this.writeLock,
      role,
      sqlite: options.sqlite ?? {},
      ...(options.quietCollectMs === undefined ? {} : { quietCollectMs: options.quietCollectMs }),
      ...options.workerData,
    });
    const threads = (
      count: number,
      tasksPerWorker: number,
      role: WorkerData['role'],
      heap = options.heap,
      filename = options.filename ?? new URL('../../workers/index.js', import.meta.url).href,
    ) =>
      watchExits(
        new Piscina({
          filename,
          // the pool's workers stay; a lane or the upkeep thread left idle exits, and its heap and page
          // caches go with it (a tenant's load over, memory comes back); the next write starts it again
          minThreads: role === 'pool' ? count : 0,
          maxThreads: count,
          concurrentTasksPerWorker: tasksPerWorker,
          // a thread's event loop keeps running between tasks (Piscina's default blocks an idle thread in
          // Atomics.wait): its quiet-time collection is a timer (src/worker/idle-collect.ts)
          atomics: 'disabled',
          // the pool's waiting tasks are served by tenant in turns (src/pool/fair-queue.ts); a lane serves
          // its shards' write queue, the upkeep thread the server itself
          // (stricterFIFO: a task Piscina took out and could not place goes back to the head of the queue,
          // where the turn still is, not to the tail, which would skip its tenant's turn every time)
          ...(role === 'pool' ? { taskQueue: this.queue, stricterFIFO: true } : {}),
          idleTimeout: role === 'pool' ? Number.POSITIVE_INFINITY : (options.idleThreadMs ?? IDLE_THREAD_MS),
          ...(heap
            ? {
                resourceLimits: {
                  maxYoungGenerationSizeMb: heap.youngMb,
                  maxOldGenerationSizeMb: heap.oldMb,
                },
              }
            : {}),
          workerData: { ...workerData(role), tasksPerThread: tasksPerWorker },
        }),
      );
    // a thread that dies (out of memory, say) inside a transaction must not leave its shard locked
    const lock = new ShardWriteLock(this.writeLock);
    const watchExits = (pool: Piscina): Piscina =>
      pool.on('workerDestroy', () => {
        this.exits++;
        const released = lock.releaseAbandoned(this.liveThreadIds());
        if (released.length > 0) options.onAbandonedLocks?.(released);
      });
    this.piscina = threads(options.workers, options.tasksPerWorker, 'pool');
    this.lanes = Array.from({ length: options.writerLanes ?? 0 }, () =>
      threads(1, options.laneTasks ?? 1, 'lane'),
    );
    // started on first use; its own small module; a worker's heap limits, since it rebuilds pre-aggregates
    // as a metrics read does (32 MB ran out of memory on a 1M-order tenant); it exits when idle
    this.startUpkeep = () =>
      threads(
        1,
        1,
        'upkeep',
        options.heap,
        options.upkeepFilename ?? new URL('../../workers/upkeep.js', import.meta.url).href,
      );
    metrics.watchPool(() => this.stats());
  }

  /** Thread ids of every thread of the pool, its lanes and the upkeep thread now. */
  private liveThreadIds(): Set<number> {
    const pools = [this.piscina, ...this.lanes, ...(this.upkeepPool ? [this.upkeepPool] : [])];
    return new Set(pools.flatMap((p) => p.threads.map((t) => t.threadId)));
  }

  stats() {
    const workers = this.piscina.threads.length;
    const queued = this.piscina.queueSize;
    const writes = this.lanes.reduce((n, lane) => n + lane.queueSize, 0);
    return {
      workers,
      running: this.running,
      queued,
      tenantsWaiting: this.queue.tenantsWaiting,
      writesQueued: writes,
      utilization: this.piscina.utilization,
    };
  }

  private running = 0;
  /** tasks submitted and not settled, on any thread (pool, lanes, upkeep), queued ones included */
  private inFlight = 0;
  /** bumped when any task starts or settles */
  private taskEvents = 0;
  private exits = 0;

  /** What an idle-time job (src/obs/memory-trim.ts) watches: whether any thread is or was just busy. */
  readonly threadActivity: ThreadActivity = {
    activity: () => this.taskEvents,
    busy: () => this.inFlight > 0,
    threadExits: () => this.exits,
  };

  get queueSize(): number {
    return this.piscina.queueSize;
  }

  /** Tasks of one tenant waiting for a worker. */
  queuedFor(tenantId: number): number {
    return this.queue.queuedFor(tenantId);
  }

  get activeTasks(): number {
    return this.running;
  }

  /** Workers with no task running or queued (0 when busy): how wide a request may fan out now. */
  idleWorkers(): number {
    return Math.max(0, this.piscina.threads.length - this.running - this.piscina.queueSize);
  }

  /** Seconds until a newly queued task would start, from the observed drain rate (at least 1). */
  expectedDelaySeconds(extraQueued = 0): number {
    const queued = this.piscina.queueSize + extraQueued;
    const rate = this.drained.perSecond();
    const workers = Math.max(1, this.piscina.threads.length);
    const averageMs = Math.max(50, this.piscina.histogram.runTime.average || 0);
    const seconds = rate > 0 ? (queued + 1) / rate : ((queued + 1) * averageMs) / workers / 1000;
    return Math.min(300, Math.max(1, Math.ceil(seconds)));
  }

  /** Runs a named task and applies the metric observations it brings back. */
  run<K extends PoolTaskName>(
    name: K,
    input: PoolTaskInput<K>,
    transferList: Transferable[] = [],
    signal?: AbortSignal,
  ): Promise<PoolTaskResult<K>> {
    return this.runOn(this.piscina, name, input, transferList, signal);
  }

  /** Runs a write task on the tenant's writer lane (in the pool when there are no lanes). */
  write<K extends PoolTaskName>(
    tenantId: number,
    name: K,
    input: PoolTaskInput<K>,
    transferList: Transferable[] = [],
  ): Promise<PoolTaskResult<K>> {
    const lane = this.lanes.length ? this.lanes[tenantId % this.lanes.length]! : this.piscina;
    return this.runOn(lane, name, input, transferList);
  }

  /** Runs a background task (a checkpoint, say) on the upkeep thread. */
  background<K extends UpkeepTaskName>(name: K, input: UpkeepTaskInput<K>): Promise<UpkeepTaskResult<K>> {
    this.upkeepPool ??= this.startUpkeep();
    return this.runOn(this.upkeepPool, name, input, []);
  }

  private async runOn<T>(
    piscina: Piscina,
    name: string,
    input: object,
    transferList: Transferable[],
    signal?: AbortSignal,
  ): Promise<T> {
    // a lane's tasks hold no pool slot: they count neither as running nor towards the pool's drain rate
    const inPool = piscina === this.piscina;
    if (inPool) this.running++;
    this.inFlight++;
    this.taskEvents++;
    try {
      const envelope = (await piscina.run(forTenantQueue(input, (input as Partial<TaskBase>).tenantId), {
        name,
        transferList: transferList as never,
        signal: signal ?? null,
      })) as TaskEnvelope<T>;
      this.metrics.apply(envelope.obs);
      if (envelope.error) throw new WorkerTaskError(name, envelope.error);
      return envelope.value;
    } finally {
      this.inFlight--;
      this.taskEvents++;
      if (inPool) {
        this.running--;
        this.drained.add(1);
      }
    }
  }

  /**
   * Starts a task that talks with the main thread over a port of its own (a duplex conversation, such as
   * bytes to decode in and decoded bytes out); `done` settles when the task ends. The caller closes the port.
   */
  open<K extends DuplexTaskName>(
    name: K,
    input: DuplexTaskInput<K>,
  ): { port: MessagePort; done: Promise<unknown> } {
    const { port1, port2 } = new MessageChannel();
    const done = this.runOn(this.piscina, name, { ...input, port: port2 }, [port2]);
    return { port: port1, done };
  }

  /**
   * Starts a streaming task and returns its bytes as a pull-based ReadableStream (src/pool/stream-receiver.ts):
   * the worker gets `credits` chunks up front and one more each time the consumer takes one.
   */
  stream<K extends StreamTaskName>(
    name: K,
    input: StreamTaskInput<K>,
    options: StreamOptions,
    /** buffers of the input to transfer to the worker instead of copying */
    transferList: Transferable[] = [],
  ): StreamHandle {
    const { port1, port2 } = new MessageChannel();
    // No AbortSignal for Piscina: a task given one is "abortable", and Piscina runs an abortable task alone
    // on its worker (aborting terminates the thread), so every open stream held a whole worker and a few
    // unread streams stalled every other request. A stream is stopped through its port instead: a 'cancel'
    // posted before the task starts waits on the port and ends it at its first write.
    const task = this.runOn(
      this.piscina,
      name,
      { ...input, port: port2, credits: options.credits, chunkBytes: options.chunkBytes },
      [port2, ...transferList],
    );
    return receiveStream(port1, task, options, (ms) =>
      this.metrics.streamFirstByte.observe({ task: name }, ms / 1000),
    );
  }

  async close(): Promise<void> {
    const all = [this.piscina, ...this.lanes, ...(this.upkeepPool ? [this.upkeepPool] : [])];
    await Promise.all(all.map((p) => p.close({ force: false })));
  }
}
