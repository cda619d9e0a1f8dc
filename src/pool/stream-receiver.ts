import type { MessagePort } from 'node:worker_threads';
import type { StreamMessage } from './protocol.js';

export interface StreamOptions {
  credits: number;
  chunkBytes: number;
  /**
   * A client that has taken nothing for this long while data waits for it is dropped: the worker stops and
   * the response is cut (0: never). It frees the task slot a stalled reader would hold.
   */
  sendTimeoutMs?: number;
  /** Bytes to append when the worker dies mid-stream (the format's in-band error line). */
  trailerOnCrash?: (error: Error) => Uint8Array | null;
}

export interface StreamOutcome {
  /** cancelled: the client went away, or stopped reading past the send timeout (code send_timeout) */
  status: 'complete' | 'error' | 'cancelled';
  meta?: unknown;
  code?: string;
  detail?: string;
  chunks: number;
  bytes: number;
  firstChunkMs: number | null;
}

export interface StreamHandle {
  body: ReadableStream<Uint8Array>;
  done: Promise<StreamOutcome>;
}

/**
 * The main-thread end of a worker stream, as a pull-based ReadableStream over the task's port: each chunk
 * taken grants the worker one more credit, so at most about 2 x credits chunks exist at once, however slow
 * the socket. Cancelling the body stops the worker; a client that takes nothing past the send timeout while
 * data waits is cut. `done` tells how the stream ended; the port closes once the task is over and its last
 * message is in.
 */
export function receiveStream(
  port: MessagePort,
  task: Promise<unknown>,
  options: StreamOptions,
  /** told how long the first chunk took from now, in ms (the time-to-first-byte metric) */
  onFirstChunk: (ms: number) => void,
): StreamHandle {
  const queue: Uint8Array[] = [];
  const submitted = performance.now();
  let taskSettled = false;
  const closePortWhenDone = () => {
    if (terminal && taskSettled) port.close();
  };
  let terminal: StreamOutcome | null = null;
  let wake: (() => void) | null = null;
  let firstChunkMs: number | null = null;
  let chunks = 0;
  let bytes = 0;
  let resolveDone!: (o: StreamOutcome) => void;
  const done = new Promise<StreamOutcome>((resolve) => {
    resolveDone = resolve;
  });
  const signal = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const settle = (outcome: Omit<StreamOutcome, 'chunks' | 'bytes' | 'firstChunkMs'>) => {
    if (terminal) return;
    terminal = { ...outcome, chunks, bytes, firstChunkMs };
    closePortWhenDone();
    signal();
  };

  port.on('message', (m: StreamMessage) => {
    if (m.t === 'chunk') {
      if (terminal) return;
      if (firstChunkMs === null) {
        firstChunkMs = performance.now() - submitted;
        onFirstChunk(firstChunkMs);
      }
      chunks++;
      bytes += m.b.byteLength;
      queue.push(m.b);
    } else if (m.t === 'end') settle({ status: 'complete', meta: m.meta });
    else if (m.t === 'error') settle({ status: 'error', code: m.code, detail: m.detail });
    signal();
  });

  task
    .catch((error: Error) => {
      if (terminal) return;
      const trailer = options.trailerOnCrash?.(error);
      if (trailer) queue.push(trailer);
      settle({ status: 'error', code: 'worker_failed', detail: error.message });
    })
    // The port stays open until both the task is over and its last message is in, so neither a late
    // 'cancel' nor the final 'end' is lost.
    .finally(() => {
      taskSettled = true;
      closePortWhenDone();
    });

  let lastPull = performance.now();
  let cut: ((reason: Error) => void) | null = null;
  const stalled =
    options.sendTimeoutMs && options.sendTimeoutMs > 0
      ? setInterval(
          () => {
            if (terminal || queue.length === 0 || performance.now() - lastPull < options.sendTimeoutMs!)
              return;
            // data waits and the client has taken nothing for the whole timeout: it is not reading
            port.postMessage({ t: 'cancel' });
            queue.length = 0;
            settle({ status: 'cancelled', code: 'send_timeout' });
            resolveDone(terminal!);
            cut?.(new Error(`the client read nothing for ${options.sendTimeoutMs} ms`));
          },
          Math.min(1000, options.sendTimeoutMs),
        )
      : undefined;
  stalled?.unref();
  void done.then(() => clearInterval(stalled));

  const body = new ReadableStream<Uint8Array>(
    {
      start: (controller) => {
        cut = (reason) => controller.error(reason);
      },
      pull: async (controller) => {
        lastPull = performance.now();
        while (queue.length === 0 && !terminal) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
        const next = queue.shift();
        if (next) {
          controller.enqueue(next);
          if (!terminal) port.postMessage({ t: 'credit', n: 1 });
          return;
        }
        controller.close();
        resolveDone(terminal!);
      },
      cancel: () => {
        if (!terminal) port.postMessage({ t: 'cancel' });
        queue.length = 0;
        settle({ status: 'cancelled' });
        resolveDone(terminal!);
      },
    },
    { highWaterMark: 0 },
  );
  return { body, done };
}
