/**
 * Server-Sent Events over fetch. The browser's EventSource cannot send an Authorization header, and a key
 * in the query string would land in access logs and browser history; so the console reads the stream with
 * fetch and parses it here (the WHATWG event-stream format), resuming with Last-Event-ID as EventSource does.
 */

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Incremental parser: feed it text as it arrives, get whole events back. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  /** the last id seen, carried across events as the spec says (an event without id keeps it) */
  lastEventId = '';
  /** the server's `retry:` hint in ms, if it sent one */
  retryMs: number | null = null;

  /** the last chunk ended in \r: a \n opening the next one belongs to it (\r\n split across chunks) */
  private afterCR = false;

  feed(text: string): SseEvent[] {
    this.buffer += this.afterCR && text.startsWith('\n') ? text.slice(1) : text;
    this.afterCR = false;
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      if (match[0] === '\r' && this.buffer === '') this.afterCR = true;
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null; // a comment: heartbeats
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    return null;
  }

  private dispatch(): SseEvent | null {
    if (this.id !== null) this.lastEventId = this.id;
    const hadData = this.data.length > 0;
    const event: SseEvent = { id: this.id, event: this.event || 'message', data: this.data.join('\n') };
    this.data = [];
    this.event = '';
    this.id = null;
    return hadData ? { ...event, id: this.lastEventId || null } : null;
  }
}

export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface FollowOptions {
  /** opens the stream, sending Last-Event-ID when it is not empty; throws or answers non-2xx on failure */
  open: (lastEventId: string, signal: AbortSignal) => Promise<Response>;
  onEvent: (event: SseEvent) => void;
  onState?: (state: StreamState, detail?: string) => void;
  signal: AbortSignal;
  /** where to resume from at the first connection */
  lastEventId?: string;
  /** the wait before reconnecting, doubled after each failure up to maxDelayMs */
  delayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follows a stream until `signal` aborts: reads events, and when the connection drops (or fails to open)
 * waits and reconnects with the last event id, so no event is missed or seen twice. Resolves with the last
 * event id once aborted.
 */
export async function followEvents(options: FollowOptions): Promise<string> {
  const { signal } = options;
  const sleep = options.sleep ?? abortableSleep;
  const baseDelay = options.delayMs ?? 1000;
  const maxDelay = options.maxDelayMs ?? 30_000;
  let lastEventId = options.lastEventId ?? '';
  let delay = baseDelay;
  let first = true;
  while (!signal.aborted) {
    options.onState?.(first ? 'connecting' : 'reconnecting');
    first = false;
    const parser = new SseParser();
    parser.lastEventId = lastEventId;
    let failure = 'the stream ended';
    try {
      const res = await options.open(lastEventId, signal);
      if (!res.ok || !res.body) throw new Error(`the stream answered ${res.status}`);
      options.onState?.('open');
      delay = baseDelay;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.feed(value)) {
          lastEventId = parser.lastEventId;
          options.onEvent(event);
        }
      }
    } catch (error) {
      if (signal.aborted) break;
      failure = error instanceof Error ? error.message : String(error);
    }
    if (signal.aborted) break;
    options.onState?.('reconnecting', failure);
    await sleep(parser.retryMs ?? delay, signal);
    delay = Math.min(delay * 2, maxDelay);
  }
  options.onState?.('closed');
  return lastEventId;
}
