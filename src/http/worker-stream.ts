import type { Context } from 'hono';
import type { StreamHandle } from '../pool/stream-receiver.js';
import type { StreamTaskInput, StreamTaskName } from '../pool/task-registry.js';
import type { AppDeps } from '../routes/deps.js';
import type { ProblemCode } from './problem-catalog.js';
import { logStreamEnd } from './stream-log.js';
import type { AppEnv } from './types.js';

/**
 * Starts a streamed response from one worker task, the way every streaming route does: within the stream
 * caps (per key, per tenant, for the server: 429 beyond them), through admission control, with the send
 * timeout that drops a client which stopped reading, and one log line when it ends (a failure there is
 * checked as a possible storage fault).
 */
export function workerStream<K extends StreamTaskName>(
  c: Context<AppEnv>,
  deps: StreamDeps,
  task: K,
  input: Omit<StreamTaskInput<K>, 'requestId' | 'tenantId'>,
  options: StreamLogOptions & {
    trailerOnCrash?: (error: Error) => Uint8Array | null;
    /** buffers of the input transferred to the worker, not copied */
    transfer?: ArrayBuffer[];
  },
): StreamHandle {
  return gatedStream(
    c,
    deps,
    () =>
      deps.pool.stream(
        task,
        // the request's id and tenant completed here (TypeScript cannot see through a generic spread)
        { requestId: c.get('requestId'), tenantId: c.get('tenantId'), ...input } as StreamTaskInput<K>,
        {
          credits: deps.config.streams.credits,
          chunkBytes: deps.config.streams.chunkBytes,
          sendTimeoutMs: deps.config.streams.sendTimeoutS * 1000,
          trailerOnCrash: options.trailerOnCrash,
        },
        options.transfer,
      ),
    options,
  );
}

type StreamDeps = Pick<AppDeps, 'pool' | 'config' | 'admission' | 'streams' | 'faults'>;

interface StreamLogOptions {
  logName: string;
  logFields?: Record<string, unknown>;
}

/**
 * Any streamed response (one worker stream, or stripes joined by stripedStream) within the stream caps,
 * through admission control, with one log line when it ends.
 */
/** What opening a streamed response can answer besides its own codes: the stream caps and admission. */
export const STREAM_PROBLEMS = ['too_many_streams', 'overloaded'] as const satisfies readonly ProblemCode[];

export function gatedStream(
  c: Context<AppEnv>,
  deps: StreamDeps,
  open: () => StreamHandle,
  options: StreamLogOptions,
): StreamHandle {
  const tenantId = c.get('tenantId');
  const leave = deps.streams.enter(tenantId, c.get('keyId'));
  let handle: StreamHandle;
  try {
    deps.admission.check('work', tenantId);
    handle = open();
  } catch (error) {
    leave();
    throw error;
  }
  void handle.done.finally(leave);
  logStreamEnd(c.get('log'), options.logName, handle.done, options.logFields, (code) =>
    deps.faults.observe({ code }, tenantId),
  );
  return handle;
}
