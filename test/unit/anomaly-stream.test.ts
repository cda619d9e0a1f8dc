import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { PriceEventResult } from '../../src/domain/price.js';
import type { AnomalyListener } from '../../src/prices/anomaly-bus.js';
import { anomalyEventStream } from '../../src/prices/anomaly-stream.js';

function anomaly(seq: number): PriceEventResult {
  return {
    seq,
    event_id: `e-${seq}`,
    product_id: 1,
    previous_price_cents: 1000,
    price_cents: 2000,
    change_pct: 100,
    anomaly: true,
    reasons: ['threshold'],
    status: 'review',
    observed_at: '2026-03-01T10:15:00.000Z',
  };
}

function fakeSource(backlog: PriceEventResult[]) {
  const state = { open: 0, listeners: new Set<AnomalyListener>() };
  return {
    state,
    source: {
      backlog: async (after: number, limit: number) => backlog.filter((r) => r.seq > after).slice(0, limit),
      live: (listener: AnomalyListener) => {
        state.listeners.add(listener);
        return () => state.listeners.delete(listener);
      },
      opened: () => state.open++,
      closed: () => state.open--,
    },
  };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>)
    text += new TextDecoder().decode(chunk);
  return text;
}

describe('anomaly change stream', () => {
  it('sends the backlog after the last event id, with observed_at, then ends cleanly with a retry hint on drain', async () => {
    const { source, state } = fakeSource([anomaly(1), anomaly(2), anomaly(3)]);
    const drain = new AbortController();
    const stream = anomalyEventStream(source, 1, drain.signal);
    const reading = readAll(stream);
    await new Promise((r) => setTimeout(r, 20));
    expect(state.open).toBe(1);
    drain.abort();
    const text = await reading;
    expect(text.match(/^id: \d+$/gm)).toEqual(['id: 2', 'id: 3']);
    expect(text).toContain('"observed_at":"2026-03-01T10:15:00.000Z"');
    expect(text.endsWith('retry: 1000\n\n')).toBe(true);
    // everything let go: the open-stream count, the live subscription, the drain listener
    expect(state.open).toBe(0);
    expect(state.listeners.size).toBe(0);
    expect(getEventListeners(drain.signal, 'abort')).toHaveLength(0);
  });

  it('a stream opened while draining ends at once; one its client cancels stops listening to the drain', async () => {
    const drained = new AbortController();
    drained.abort();
    const early = fakeSource([anomaly(1)]);
    expect(await readAll(anomalyEventStream(early.source, 0, drained.signal))).toMatch(/retry: 1000\n\n$/);
    expect(early.state.open).toBe(0); // counted open once, closed once
    expect(early.state.listeners.size).toBe(0);
    const drain = new AbortController();
    const { source, state } = fakeSource([]);
    const stream = anomalyEventStream(source, 0, drain.signal);
    const reader = stream.getReader();
    await reader.read();
    expect(getEventListeners(drain.signal, 'abort')).toHaveLength(1);
    await reader.cancel();
    expect(getEventListeners(drain.signal, 'abort')).toHaveLength(0);
    expect(state.open).toBe(0);
  });
});
