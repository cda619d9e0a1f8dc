import type { Config } from '../config.js';
import { Problem } from './problem.js';

export interface BodyDeadlines {
  /** The whole body must have arrived this long after the request started (0: no limit). */
  totalMs: number;
  /** A body that sends nothing for this long is given up (0: no limit). */
  idleMs: number;
}

/** The body stopped arriving in time; the connection is closed after the answer (the client may be stuck). */
export class BodyTimeout extends Problem {
  constructor(detail: string) {
    super(408, 'body_timeout', detail, { headers: { connection: 'close' } });
  }
}

/**
 * A request body read against deadlines: a body that stalls past `idleMs`, or is still arriving past
 * `totalMs` since `startedAt`, ends with a BodyTimeout (408 problem), so the route can answer with what it
 * committed. Node's own requestTimeout is off (src/server.ts): it would cut any body after 300 s with a bare
 * 408 and no counts, and a 16 GiB ingest takes longer than that.
 */
export async function* withDeadlines<T>(
  source: AsyncIterable<T>,
  deadlines: BodyDeadlines,
  startedAt = Date.now(),
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    for (;;) {
      const left =
        deadlines.totalMs > 0 ? startedAt + deadlines.totalMs - Date.now() : Number.POSITIVE_INFINITY;
      const wait = Math.min(left, deadlines.idleMs > 0 ? deadlines.idleMs : Number.POSITIVE_INFINITY);
      const next = iterator.next();
      const result = Number.isFinite(wait)
        ? await Promise.race([
            next,
            new Promise<never>((_, reject) => {
              timer = setTimeout(
                () => {
                  timedOut = true;
                  reject(
                    new BodyTimeout(
                      left <= wait
                        ? `The body was still arriving after ${Math.round(deadlines.totalMs / 1000)} s.`
                        : `No body bytes arrived for ${Math.round(deadlines.idleMs / 1000)} s.`,
                    ),
                  );
                },
                Math.max(0, wait),
              );
            }),
          ])
        : await next;
      clearTimeout(timer);
      if (result.done) return;
      yield result.value;
    }
  } finally {
    clearTimeout(timer);
    // Ending the iteration destroys a request stream, and with it the socket the answer must go out on:
    // after a timeout the body is left alone (the connection closes after the answer instead).
    if (!timedOut) await iterator.return?.();
  }
}

/** The deadlines of a server's configuration: streaming bodies (ingest, tus) get the long total limit. */
export function bodyDeadlines(config: Config, kind: 'json' | 'stream'): BodyDeadlines {
  return {
    totalMs: (kind === 'json' ? config.requestTimeoutS : config.ingestBodyTimeoutS) * 1000,
    idleMs: config.bodyIdleTimeoutS * 1000,
  };
}
