import { getHeapStatistics } from 'node:v8';
import { threadId, workerData } from 'node:worker_threads';
import { move, Piscina } from 'piscina';
import { dropKeptEncoders } from '../formats/export-encoder.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { ObservationBuffer } from '../obs/observations.js';
import type { WorkerData } from '../pool/pool.js';
import type { StreamTaskBase, TaskBase, TaskEnvelope } from '../pool/protocol.js';
import { serializeError } from '../pool/task-error.js';
import { ShardConnections, type ShardLease, type Shards } from '../storage/shards.js';
import { workerShardOpenOptions } from '../storage/sqlite.js';
import { ShardWriteLock } from '../storage/write-lock.js';
import { IdleCollector } from './idle-collect.js';
import { StreamCancelled, StreamSink } from './stream-sink.js';
import { v8Collector } from './v8-collector.js';

/** What a task sees inside a worker: its own connections, the shared write lock, a logger and metrics. */
export interface TaskContext {
  log: Logger;
  obs: ObservationBuffer;
  /** the task's lease on the worker's shard connections: what it touches stays open until it ends */
  shards: Shards;
  lock: ShardWriteLock;
  data: WorkerData;
}

const data = workerData as WorkerData;
const baseLog = createLogger(data.logLevel, { thread: 'worker' });
const shards = new ShardConnections(data.dataDir, undefined, workerShardOpenOptions(data.role, data.sqlite));
const lock = new ShardWriteLock(data.writeLock);

/** A thread quiet this long closes every shard connection and collects its heap (see IdleCollector). */
const QUIET_COLLECT_MS = 10_000;
const idle = new IdleCollector({
  quietMs: data.quietCollectMs ?? QUIET_COLLECT_MS,
  collect: () => {
    const closed = shards.closeIdle(Date.now(), 0);
    dropKeptEncoders();
    const before = getHeapStatistics().total_heap_size;
    v8Collector()({ type: 'major' });
    baseLog.debug(
      { closed, heap_mb_before: mib(before), heap_mb_after: mib(getHeapStatistics().total_heap_size) },
      'quiet: connections closed, heap collected',
    );
  },
});
const mib = (bytes: number) => Math.round(bytes / 2 ** 17) / 8;

/** After each task: its lease ends, and the worker keeps connections only to shards still in use. */
function afterTask(ctx: LeasedContext): void {
  ctx.shards.release();
  shards.closeIdle();
  idle.taskEnded();
}

/** This worker's V8 heap after a task, for the worker_heap_bytes gauge (memory is a budget here). */
function recordHeap(obs: ObservationBuffer): void {
  const heap = getHeapStatistics();
  const thread = String(threadId);
  obs.record('worker_heap_bytes', { thread, kind: 'used' }, heap.used_heap_size);
  obs.record('worker_heap_bytes', { thread, kind: 'total' }, heap.total_heap_size);
  obs.record('worker_heap_bytes', { thread, kind: 'external' }, heap.external_memory);
}

/** The context a task runs with; the wrapper keeps the lease to release it when the task ends. */
type LeasedContext = TaskContext & { shards: ShardLease };

function contextFor(task: string, input: TaskBase): LeasedContext {
  idle.taskStarted();
  return {
    log: baseLog.child({ req_id: input.requestId, tenant_id: input.tenantId, task }),
    obs: new ObservationBuffer(),
    shards: shards.lease(),
    lock,
    data,
  };
}

/** Results whose buffers go back to the main thread transferred, not copied (see withTransfer). */
const transfers = new WeakMap<object, ArrayBuffer[]>();

/**
 * Marks a task's result to travel with `buffers` transferred: a large typed-array result (a part of a
 * scan) moves to the main thread without a copy, and the worker's references to them are detached.
 */
export function withTransfer<T extends object>(value: T, buffers: ArrayBuffer[]): T {
  transfers.set(value, buffers);
  return value;
}

/** The envelope as Piscina's "movable" (its transferable symbol lists the buffers), when it carries any. */
function envelopeOf<O>(value: O, obs: TaskEnvelope<O>['obs']): TaskEnvelope<O> {
  const envelope = { value, obs };
  const buffers = typeof value === 'object' && value !== null ? transfers.get(value) : undefined;
  if (!buffers) return envelope;
  const movable = { [Piscina.transferableSymbol]: buffers, [Piscina.valueSymbol]: envelope };
  return move(movable as unknown as Parameters<typeof move>[0]) as unknown as TaskEnvelope<O>;
}

export function defineTask<I extends TaskBase, O>(
  name: string,
  run: (ctx: TaskContext, input: I) => O | Promise<O>,
): (input: I) => Promise<TaskEnvelope<O>> {
  return async (input) => {
    const ctx = contextFor(name, input);
    try {
      const value = await run(ctx, input);
      recordHeap(ctx.obs);
      return envelopeOf(value, ctx.obs.drain());
    } catch (error) {
      // returned as data, so the main thread gets its name and code (see WorkerTaskError)
      return { value: undefined as O, obs: ctx.obs.drain(), error: serializeError(error) };
    } finally {
      afterTask(ctx);
    }
  };
}

export interface StreamFailure {
  code: string;
  detail: string;
}

/**
 * A task that streams bytes to the main thread. `run` writes through the sink and returns the final
 * metadata; any failure after the start is reported in-band through `trailer`, never by silence.
 */
export function defineStreamTask<I extends StreamTaskBase, M>(
  name: string,
  run: (ctx: TaskContext, input: I, sink: StreamSink) => Promise<M>,
  trailer: (failure: StreamFailure, input: I) => string,
): (input: I) => Promise<TaskEnvelope<{ status: string }>> {
  return async (input) => {
    const ctx = contextFor(name, input);
    let status = 'complete';
    // the lease and the thread's task count end however the stream ends (see afterTask)
    try {
      const sink = new StreamSink(input.port, input.credits, input.chunkBytes);
      try {
        const meta = await run(ctx, input, sink);
        await sink.end(meta);
      } catch (error) {
        if (error instanceof StreamCancelled) {
          status = 'cancelled';
          ctx.log.info({ chunks: sink.chunksSent, bytes: sink.bytesSent }, 'stream cancelled by client');
          sink.fail('cancelled', 'client went away');
        } else {
          status = 'error';
          const failure = toFailure(error);
          ctx.log.error({ err: error }, 'stream failed');
          sink.fail(failure.code, failure.detail, trailer(failure, input));
        }
      }
    } finally {
      afterTask(ctx);
    }
    recordHeap(ctx.obs);
    return { value: { status }, obs: ctx.obs.drain() };
  };
}

function toFailure(error: unknown): StreamFailure {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') {
    const message = 'message' in error ? String(error.message) : 'failed';
    return { code: error.code.toLowerCase(), detail: message };
  }
  return { code: 'internal_error', detail: error instanceof Error ? error.message : String(error) };
}
