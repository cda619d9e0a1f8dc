import type { Config } from '../config/load.js';
import { Problem } from './problem.js';

export interface BodyDeadlines {
  /** Aborted when the server stops waiting for in-flight requests at shutdown. */
  shutdown?: AbortSignal;
  /** The whole body must have arrived this long after the request started (0: no limit). */
  totalMs: number;
  /** A body that sends nothing for this long is given up (0: no limit). */
  idleMs: number;
}

/** The server is shutting down: the body is not read further; what was committed is answered. */
export class ServerShuttingDown extends Problem {
  constructor() {
    super('shutting_down', 'The server is shutting down; retry (on another instance) in a moment.', {
      headers: { 'Retry-After': '5', connection: 'close' },
    });
  }
}

/** The body stopped arriving in time; the connection is closed after the answer (the client may be stuck). */
export class BodyTimeout extends Problem {
  constructor(detail: string) {
    super('body_timeout', detail, { headers: { connection: 'close' } });
  }
}

/**
 * A request body read against deadlines: a body that stalls past `idleMs`, or is still arriving past
 * `totalMs` since `startedAt`, ends with a BodyTimeout (408 problem); one still arriving when the server
 * stops waiting at shutdown ends with ServerShuttingDown (503). Either way the route answers with what it
 * committed. Node's own requestTimeout is off (src/server.ts): it would cut any body after 300 s with a
 * bare 408 and no counts, and a 16 GiB ingest takes longer than that.
 */
export async function* withDeadlines<T>(
  source: AsyncIterable<T>,
  deadlines: BodyDeadlines,
  startedAt = Date.now(),
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let stopped: Problem | null = null;
  // Each read gets its own promise, which a deadline rejects. (Racing every read against one long-lived
  // "stop" promise left a reaction on it per read, each holding that read's chunk: a 1M-order body kept
  // 410 MB until it ended.)
  let rejectRead: ((p: Problem) => void) | null = null;
  const fail = (problem: Problem) => {
    stopped ??= problem;
    rejectRead?.(stopped);
  };
  const onShutdown = () => fail(new ServerShuttingDown());
  if (deadlines.shutdown?.aborted) onShutdown();
  deadlines.shutdown?.addEventListener('abort', onShutdown, { once: true });
  try {
    for (;;) {
      if (stopped) throw stopped;
      const left =
        deadlines.totalMs > 0 ? startedAt + deadlines.totalMs - Date.now() : Number.POSITIVE_INFINITY;
      const idle = deadlines.idleMs > 0 ? deadlines.idleMs : Number.POSITIVE_INFINITY;
      const wait = Math.min(left, idle);
      const timer = Number.isFinite(wait)
        ? setTimeout(
            () =>
              fail(
                new BodyTimeout(
                  left <= idle
                    ? `The body was still arriving after ${Math.round(deadlines.totalMs / 1000)} s.`
                    : `No body bytes arrived for ${Math.round(idle / 1000)} s.`,
                ),
              ),
            Math.max(0, wait),
          )
        : undefined;
      let result: IteratorResult<T>;
      try {
        result = await new Promise<IteratorResult<T>>((resolve, reject) => {
          rejectRead = reject;
          iterator.next().then(resolve, reject);
        });
      } finally {
        rejectRead = null;
        clearTimeout(timer); // the consumer's time with a chunk is not the client's idle time
      }
      if (result.done) return;
      yield result.value;
    }
  } finally {
    deadlines.shutdown?.removeEventListener('abort', onShutdown);
    // Ending the iteration destroys a request stream, and with it the socket the answer must go out on:
    // after a deadline the body is left alone (the connection closes after the answer instead).
    if (!stopped) await iterator.return?.();
  }
}

/** The deadlines of a server's configuration: streaming bodies (ingest, tus) get the long total limit. */
export function bodyDeadlines(
  limits: Config['body'],
  kind: 'json' | 'stream',
  shutdown?: AbortSignal,
): BodyDeadlines {
  return {
    totalMs: (kind === 'json' ? limits.requestTimeoutS : limits.ingestTimeoutS) * 1000,
    idleMs: limits.idleTimeoutS * 1000,
    shutdown,
  };
}
