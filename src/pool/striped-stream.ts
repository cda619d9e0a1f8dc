import type { OrderPosition } from '../domain/cursor.js';
import type { StreamHandle, StreamOutcome } from './stream-receiver.js';

/**
 * One stripe of a result: the rows after `after` (exclusive) down to `floor` (inclusive), or, for the last
 * stripe, to the end (floor null) but at most `limit` rows (null: no limit).
 */
export interface StripeRange {
  after: OrderPosition | null;
  floor: OrderPosition | null;
  limit: number | null;
}

/** What a stripe's worker stream ended with, and where its bytes start in the whole response. */
export interface FinishedStripe {
  meta: unknown;
  offset: number;
}

export interface StripedStreamOptions {
  /** Stripes running at once: the one being sent and those started ahead of it (each on a worker). */
  ahead: number;
  /** The next stripes in order; `end` once the last has been given. */
  nextRanges: () => Promise<{ ranges: StripeRange[]; end: boolean }>;
  /** Starts one stripe's worker stream (stripe 0 writes what opens the response). */
  start: (range: StripeRange, index: number) => StreamHandle;
  /** Bytes that close the response, made from every stripe's end meta and offset. */
  finish: (stripes: readonly FinishedStripe[]) => Promise<Uint8Array>;
  /** The in-band end of a response cut by a failure outside the stripes' own streams (as the task's). */
  failureTrailer?: (failure: { code: string; detail: string }) => Uint8Array | null;
  /** A client that pulls nothing for this long is dropped (0: never). */
  sendTimeoutMs: number;
}

interface Running {
  handle: StreamHandle;
  reader: ReadableStreamDefaultReader<Uint8Array> | null;
  /** Where its bytes start in the response (known once it is the one being sent). */
  offset: number;
}

/**
 * One response from consecutive stripes of a result, each streamed by its own worker task, so a long
 * stream uses as many cores as `ahead`: the main thread sends stripe k's bytes while stripes k+1… are
 * produced, and joins them in order. A stripe started ahead runs until its credits are used (the caller
 * gives it enough for a whole stripe), so memory stays bounded by `ahead` stripes whatever the size.
 * Backpressure, cancellation and the send timeout work as for one worker stream (WorkerPool.stream); a
 * stripe that fails ends the response with its own in-band trailer and stops the others.
 */
export function stripedStream(options: StripedStreamOptions): StreamHandle {
  const running: Running[] = [];
  const pending: StripeRange[] = [];
  const finished: FinishedStripe[] = [];
  let rangesEnded = false;
  let started = 0;
  let bytes = 0;
  let chunks = 0;
  let firstChunkMs: number | null = null;
  const opened = performance.now();
  let outcome: StreamOutcome | null = null;
  let resolveDone!: (o: StreamOutcome) => void;
  const done = new Promise<StreamOutcome>((resolve) => {
    resolveDone = resolve;
  });
  const settle = (o: Omit<StreamOutcome, 'chunks' | 'bytes' | 'firstChunkMs'>) => {
    if (outcome) return outcome;
    outcome = { ...o, chunks, bytes, firstChunkMs };
    resolveDone(outcome);
    return outcome;
  };
  const stopAll = () => {
    for (const r of running.splice(0)) void (r.reader ? r.reader.cancel() : r.handle.body.cancel());
  };

  let fetching: Promise<void> | null = null;
  let fetchFailure: unknown = null;
  /** Asks for the next ranges (one call at a time). */
  const fetchRanges = () =>
    (fetching ??= options
      .nextRanges()
      .then((next) => {
        pending.push(...next.ranges);
        rangesEnded = next.end;
      })
      .finally(() => {
        fetching = null;
      }));
  /** Asks for more ranges in the background, before they are needed; a failure surfaces in `fill`. */
  const prefetch = () => {
    if (fetching || rangesEnded || pending.length > 0 || outcome) return;
    fetchRanges().catch((error: unknown) => {
      fetchFailure = error;
    });
  };

  /**
   * Starts stripes until `ahead` run (or none are left). Only the very first ranges are waited for; later
   * ones are asked for in the background as soon as the known ones are all started, so a stripe being
   * sent never waits for them.
   */
  async function fill(): Promise<void> {
    if (fetchFailure !== null) throw fetchFailure;
    if (pending.length === 0 && !rangesEnded && running.length === 0) await fetchRanges();
    while (running.length < options.ahead && pending.length > 0)
      running.push({ handle: options.start(pending.shift()!, started++), reader: null, offset: 0 });
    prefetch();
  }

  let inPull = false;
  let lastPull = performance.now();
  let cut: ((reason: Error) => void) | null = null;
  const stalled =
    options.sendTimeoutMs > 0
      ? setInterval(
          () => {
            if (outcome || inPull || performance.now() - lastPull < options.sendTimeoutMs) return;
            // the client has taken nothing for the whole timeout: it is not reading
            stopAll();
            settle({ status: 'cancelled', code: 'send_timeout' });
            cut?.(new Error(`the client read nothing for ${options.sendTimeoutMs} ms`));
          },
          Math.min(1000, options.sendTimeoutMs),
        )
      : undefined;
  stalled?.unref();
  void done.then(() => clearInterval(stalled));

  /** The next bytes to send, or null at the end of the response. */
  let closed = false;
  async function next(): Promise<Uint8Array | null> {
    for (;;) {
      if (closed) settle({ status: 'complete', meta: finished.map((f) => f.meta) });
      if (outcome) return null;
      await fill();
      const current = running[0];
      if (!current) {
        // the closing bytes are counted before the outcome is settled, on the next pull
        const trailer = await options.finish(finished);
        closed = true;
        if (trailer.length) return trailer;
        continue;
      }
      if (!current.reader) {
        current.reader = current.handle.body.getReader();
        current.offset = bytes; // every byte before it has been counted by now
      }
      const read = await current.reader.read();
      if (!read.done) return read.value;
      const ended = await current.handle.done;
      running.shift();
      if (ended.status !== 'complete') {
        // the stripe's stream already carries its in-band end; later stripes are not wanted
        stopAll();
        settle({ status: ended.status, code: ended.code, detail: ended.detail });
        return null;
      }
      finished.push({ meta: ended.meta, offset: current.offset });
    }
  }

  const body = new ReadableStream<Uint8Array>(
    {
      start: (controller) => {
        cut = (reason) => controller.error(reason);
      },
      pull: async (controller) => {
        inPull = true;
        try {
          const value = await next();
          if (value) {
            firstChunkMs ??= performance.now() - opened;
            chunks++;
            bytes += value.byteLength;
            controller.enqueue(value);
          } else controller.close();
        } catch (error) {
          // a failure between stripes (the next ranges, the closing bytes): end in band, like a stripe,
          // with the task's own code (SQLITE_CORRUPT, …: what the storage fault check looks at)
          stopAll();
          const code = (error as { code?: unknown }).code;
          const failure = {
            code: typeof code === 'string' ? code.toLowerCase() : 'worker_failed',
            detail: (error as Error).message,
          };
          settle({ status: 'error', ...failure });
          const trailer = options.failureTrailer?.(failure);
          if (trailer) controller.enqueue(trailer);
          controller.close();
        } finally {
          inPull = false;
          lastPull = performance.now();
        }
      },
      cancel: () => {
        stopAll();
        settle({ status: 'cancelled' });
      },
    },
    { highWaterMark: 0 },
  );
  return { body, done };
}
