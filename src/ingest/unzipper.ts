import type { MessagePort } from 'node:worker_threads';
import { isProblemCode } from '../http/problem-catalog.js';
import type { WorkerPool } from '../pool/pool.js';
import type { TaskBase, UnzipReply, UnzipRequest } from '../pool/protocol.js';
import type { Unzipper } from './body-decoder.js';
import { BodyError } from './body-error.js';

/**
 * Zip bodies are inflated in the pool (the unzipStream task), not on the event loop: the main thread sends
 * each compressed piece over the task's port and waits for its decoded bytes before reading more, so a
 * slow or hostile archive costs a worker's time, never every other request's.
 */
export function poolUnzipper(pool: WorkerPool, base: TaskBase): Unzipper {
  return async function* (source, counter, limits) {
    const { port, done } = pool.open('unzipStream', {
      ...base,
      limits: {
        maxOutBytes: limits.maxDecompressedBytes,
        maxRatio: limits.maxRatio,
        maxMembers: limits.maxZipMembers,
      },
    });
    const ask = (message: UnzipRequest) =>
      new Promise<UnzipReply>((resolve, reject) => {
        const onClose = () => reject(new BodyError('unzip_failed', 'The zip reader stopped.'));
        port.once('close', onClose);
        port.once('message', (reply: UnzipReply) => {
          port.off('close', onClose);
          resolve(reply);
        });
        port.postMessage(message);
      });
    const step = function* (reply: UnzipReply) {
      counter.out = reply.outBytes;
      if (reply.bytes.byteLength) yield reply.bytes;
      if (reply.failure)
        throw new BodyError(
          isProblemCode(reply.failure.code) ? reply.failure.code : 'unzip_failed',
          reply.failure.message,
        );
    };
    try {
      for await (const chunk of source) yield* step(await ask({ t: 'data', b: chunk }));
      yield* step(await ask({ t: 'end' }));
    } finally {
      close(port);
      await done.catch(() => {});
    }
  };
}

function close(port: MessagePort): void {
  port.postMessage({ t: 'close' } satisfies UnzipRequest);
  port.close();
}
