import { describe, expect, it } from 'vitest';
import { followEvents, type SseEvent, SseParser, type StreamState } from '../../../console/lib/sse.js';

describe('SseParser', () => {
  it('parses events split anywhere across chunks, with CRLF, CR and LF line ends', () => {
    const text = 'id: 1\r\nevent: anomaly\r\ndata: {"a":1}\r\n\r\n: heartbeat\n\nid: 2\rdata: x\rdata: y\r\r';
    // every split point gives the same events
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const events = [...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut))];
      expect(events).toEqual([
        { id: '1', event: 'anomaly', data: '{"a":1}' },
        { id: '2', event: 'message', data: 'x\ny' },
      ]);
      expect(p.lastEventId).toBe('2');
    }
  });

  it('keeps the last id for events without one, reads retry, ignores comments and data-less blocks', () => {
    const p = new SseParser();
    const events = p.feed(': connected\nretry: 2000\n\nid: 7\n\ndata: after\n\n');
    expect(p.retryMs).toBe(2000);
    expect(events).toEqual([{ id: '7', event: 'message', data: 'after' }]);
  });

  it('takes a field without a colon as empty and only one leading space off a value', () => {
    const p = new SseParser();
    expect(p.feed('data\ndata:  two\n\n')).toEqual([{ id: null, event: 'message', data: '\n two' }]);
  });
});

/** A response whose body delivers the chunks one read at a time, then ends or breaks (a dropped connection). */
function streamOf(chunks: string[], thenFail = false): Response {
  const queue = [...chunks];
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next !== undefined) controller.enqueue(new TextEncoder().encode(next));
      else if (thenFail) controller.error(new Error('connection reset'));
      else controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

describe('followEvents', () => {
  it('reconnects after a drop with the last event id, so no event is missed or repeated', async () => {
    const stop = new AbortController();
    const opened: string[] = [];
    const seen: SseEvent[] = [];
    const states: StreamState[] = [];
    const connections = [
      () => streamOf(['id: 1\ndata: a\n\n', 'id: 2\ndata: b\n\nid: 3\nda'], true),
      () => new Response('busy', { status: 503 }),
      () => streamOf(['id: 3\ndata: c\n\n']),
    ];
    const last = await followEvents({
      signal: stop.signal,
      lastEventId: '0',
      delayMs: 1,
      sleep: async () => {},
      open: async (lastEventId) => {
        opened.push(lastEventId);
        const next = connections.shift();
        if (!next) {
          stop.abort();
          throw new Error('aborted');
        }
        return next();
      },
      onEvent: (e) => seen.push(e),
      onState: (s) => states.push(s),
    });
    expect(seen.map((e) => e.data)).toEqual(['a', 'b', 'c']);
    // the half-received event 3 was not dispatched; the reconnect asked from 2
    expect(opened).toEqual(['0', '2', '2', '3']);
    expect(last).toBe('3');
    expect(states[0]).toBe('connecting');
    expect(states).toContain('open');
    expect(states).toContain('reconnecting');
    expect(states.at(-1)).toBe('closed');
  });

  it('doubles its wait after each failure up to the maximum, and honours the server retry hint', async () => {
    const stop = new AbortController();
    const waits: number[] = [];
    let calls = 0;
    await followEvents({
      signal: stop.signal,
      delayMs: 100,
      maxDelayMs: 300,
      sleep: async (ms) => {
        waits.push(ms);
      },
      open: async () => {
        calls++;
        if (calls === 5) return streamOf(['retry: 50\n\n']);
        if (calls > 5) stop.abort();
        throw new Error('refused');
      },
      onEvent: () => {},
    });
    expect(waits).toEqual([100, 200, 300, 300, 50]);
  });
});
