import type { PriceEventResult } from '../domain/price.js';
import { publicPriceEvent } from '../domain/price.js';
import type { AnomalyListener } from './anomaly-bus.js';

/** Rows of the backlog read per query while a stream catches up. */
const BACKLOG_PAGE = 500;
/** Live anomalies queued for a slow reader before it is dropped (it reconnects with Last-Event-ID). */
const MAX_QUEUED = 1000;
const HEARTBEAT_MS = 15_000;
/** What a stream ended by a shutdown tells its client: come back in a second (to another server, or this one restarted). */
const SHUTDOWN_RETRY_MS = 1000;

export interface AnomalyStreamSource {
  /** Anomalies after `afterSeq`, in sequence order, at most `limit`. */
  backlog(afterSeq: number, limit: number): Promise<PriceEventResult[]>;
  /** Subscribes to anomalies as they commit (null: the live feed broke); returns the unsubscribe. */
  live(listener: AnomalyListener): () => void;
  /** Told when the stream opens and closes (the SSE client gauge). */
  opened(): void;
  closed(): void;
}

/**
 * A tenant's anomalies as Server-Sent Events from `lastSeq` on: it subscribes first, then reads the
 * backlog from the table, then sends what arrived live meanwhile (skipping what the backlog had), so no
 * event committed in between is missed or sent twice. Each event's id is its sequence (Last-Event-ID).
 */
export function anomalyEventStream(
  source: AnomalyStreamSource,
  lastSeq: number,
  /** aborted when the server drains: the stream ends cleanly with a retry hint */
  drain?: AbortSignal,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const live: PriceEventResult[] = [];
  let lastSent = lastSeq;
  let closed = false;
  let backlogPending = true;
  let unsubscribe: (() => void) | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let stopListening: (() => void) | null = null;
  const frame = (r: PriceEventResult) =>
    // observed_at as the list gives it, so a live row reads like a listed one
    encoder.encode(
      `id: ${r.seq}\nevent: anomaly\ndata: ${JSON.stringify({ ...publicPriceEvent(r), observed_at: r.observed_at })}\n\n`,
    );
  const cleanup = () => {
    if (closed) return;
    closed = true;
    source.closed();
    unsubscribe?.();
    if (heartbeat) clearInterval(heartbeat);
    stopListening?.();
  };
  return new ReadableStream<Uint8Array>({
    start: async (controller) => {
      const end = () => {
        if (closed) return;
        controller.enqueue(encoder.encode(`: the server is shutting down\nretry: ${SHUTDOWN_RETRY_MS}\n\n`));
        cleanup();
        controller.close();
      };
      const flushLive = () => {
        if (closed || backlogPending) return;
        while (live.length) {
          const r = live.shift()!;
          if (r.seq <= lastSent) continue;
          controller.enqueue(frame(r));
          lastSent = r.seq;
        }
      };
      unsubscribe = source.live((r) => {
        if (r === null) {
          // the live feed broke: end here; the client resumes from the table with Last-Event-ID
          cleanup();
          controller.close();
          return;
        }
        live.push(r);
        if (live.length > MAX_QUEUED) {
          cleanup();
          controller.close();
        } else flushLive();
      });
      source.opened();
      controller.enqueue(encoder.encode(': connected\nretry: 2000\n\n'));
      if (drain?.aborted) return end();
      drain?.addEventListener('abort', end, { once: true });
      // the signal lives as long as the server: a stream that ends otherwise stops listening to it
      stopListening = () => drain?.removeEventListener('abort', end);
      for (;;) {
        const rows = await source.backlog(lastSent, BACKLOG_PAGE);
        if (closed) return;
        for (const r of rows) {
          controller.enqueue(frame(r));
          lastSent = r.seq;
        }
        if (rows.length < BACKLOG_PAGE) break;
      }
      backlogPending = false;
      flushLive();
      heartbeat = setInterval(() => {
        if (!closed) controller.enqueue(encoder.encode(': ping\n\n'));
      }, HEARTBEAT_MS);
    },
    cancel: cleanup,
  });
}
