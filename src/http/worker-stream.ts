import type { Context } from 'hono';
import type { StreamHandle } from '../pool/pool.js';
import type { StreamTaskInput, StreamTaskName } from '../pool/task-registry.js';
import type { AppDeps } from '../routes/deps.js';
import { logStreamEnd } from './stream-log.js';
import type { AppEnv } from './types.js';

/**
 * Starts a streamed response from a worker task, the way every streaming route does: within the stream
 * caps (per key, per tenant, for the server: 429 beyond them), through admission control, with the send
 * timeout that drops a client which stopped reading, and one log line when it ends (a failure there is
 * checked as a possible storage fault).
 */
export function workerStream<K extends StreamTaskName>(
  c: Context<AppEnv>,
  deps: Pick<AppDeps, 'pool' | 'config' | 'admission' | 'streams' | 'faults'>,
  task: K,
  input: Omit<StreamTaskInput<K>, 'requestId' | 'tenantId'>,
  options: {
    logName: string;
    logFields?: Record<string, unknown>;
    trailerOnCrash?: (error: Error) => Uint8Array | null;
  },
): StreamHandle {
  const tenantId = c.get('tenantId');
  const leave = deps.streams.enter(tenantId, c.get('keyId'));
  let handle: StreamHandle;
  try {
    deps.admission.check('work');
    handle = deps.pool.stream(
      task,
      // the request's id and tenant completed here (TypeScript cannot see through a generic spread)
      { requestId: c.get('requestId'), tenantId, ...input } as StreamTaskInput<K>,
      {
        credits: deps.config.streamCredits,
        chunkBytes: deps.config.streamChunkBytes,
        sendTimeoutMs: deps.config.streamSendTimeoutS * 1000,
        trailerOnCrash: options.trailerOnCrash,
      },
    );
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
