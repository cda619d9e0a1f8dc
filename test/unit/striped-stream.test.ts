import { describe, expect, it } from 'vitest';
import type { StreamHandle, StreamOutcome } from '../../src/pool/stream-receiver.js';
import { type StripeRange, stripedStream } from '../../src/pool/striped-stream.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** A stripe's worker stream, as WorkerPool.stream gives it: `done` settles once its body has been read out. */
function fakeStripe(chunks: string[], end: Omit<StreamOutcome, 'chunks' | 'bytes' | 'firstChunkMs'>) {
  const log = { cancelled: false, pulled: 0 };
  let resolve!: (o: StreamOutcome) => void;
  const done = new Promise<StreamOutcome>((r) => {
    resolve = r;
  });
  const queue = [...chunks];
  const body = new ReadableStream<Uint8Array>(
    {
      pull: (controller) => {
        log.pulled++;
        const next = queue.shift();
        if (next !== undefined) return controller.enqueue(bytes(next));
        controller.close();
        resolve({ ...end, chunks: chunks.length, bytes: 0, firstChunkMs: 0 });
      },
      cancel: () => {
        log.cancelled = true;
        resolve({ status: 'cancelled', chunks: 0, bytes: 0, firstChunkMs: null });
      },
    },
    { highWaterMark: 0 },
  );
  return { handle: { body, done } satisfies StreamHandle, log };
}

const ranges = (n: number): StripeRange[] =>
  Array.from({ length: n }, (_, i) => ({
    after: i ? { createdAt: 100 - i, orderPk: i } : null,
    floor: { createdAt: 99 - i, orderPk: i + 1 },
    limit: null,
  }));

describe('stripedStream', () => {
  it('joins the stripes in order, keeps `ahead` of them started, and closes with bytes made from their ends', async () => {
    const stripes = [
      fakeStripe(['a1', 'a2'], { status: 'complete', meta: 'A' }),
      fakeStripe(['b1'], { status: 'complete', meta: 'B' }),
      fakeStripe(['c1', 'c2', 'c3'], { status: 'complete', meta: 'C' }),
    ];
    const startedAt: number[] = [];
    let sent = 0;
    const all = ranges(3);
    let asked = 0;
    const handle = stripedStream({
      ahead: 2,
      sendTimeoutMs: 0,
      // two calls: the ranges arrive in two pieces
      nextRanges: async () => {
        asked++;
        return asked === 1 ? { ranges: all.slice(0, 2), end: false } : { ranges: all.slice(2), end: true };
      },
      start: (range, index) => {
        expect(range).toEqual(all[index]);
        startedAt.push(sent);
        return stripes[index]!.handle;
      },
      finish: async (finished) => bytes(`|${finished.map((f) => `${f.meta}@${f.offset}`).join(',')}`),
    });
    const reader = handle.body.getReader();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      sent++;
    }
    expect(text).toBe('a1a2b1c1c2c3|A@0,B@4,C@6');
    // stripes 0 and 1 started before anything was sent; stripe 2 once stripe 0 was done
    expect(startedAt).toEqual([0, 0, 2]);
    const outcome = await handle.done;
    expect(outcome).toMatchObject({ status: 'complete', meta: ['A', 'B', 'C'], bytes: text.length });
  });

  it('a failed stripe ends the response after its own in-band trailer and cancels the stripes ahead', async () => {
    const stripes = [
      fakeStripe(['a1', '\r\n{"_meta":{"error":…}}'], { status: 'error', code: 'sqlite_ioerr', detail: 'x' }),
      fakeStripe(['b1'], { status: 'complete', meta: 'B' }),
    ];
    let finished = false;
    const handle = stripedStream({
      ahead: 2,
      sendTimeoutMs: 0,
      nextRanges: async () => ({ ranges: ranges(2), end: true }),
      start: (_range, index) => stripes[index]!.handle,
      finish: async () => {
        finished = true;
        return bytes('footer');
      },
    });
    const text = await new Response(handle.body).text();
    expect(text).toBe('a1\r\n{"_meta":{"error":…}}');
    expect(await handle.done).toMatchObject({ status: 'error', code: 'sqlite_ioerr' });
    expect(stripes[1]!.log.cancelled).toBe(true);
    expect(finished).toBe(false);
  });

  it('a failure between stripes ends in band too, with the caller’s trailer and the task’s error code', async () => {
    const first = fakeStripe(['a1'], { status: 'complete', meta: 'A' });
    let calls = 0;
    const handle = stripedStream({
      ahead: 1,
      sendTimeoutMs: 0,
      nextRanges: async () => {
        if (calls++) throw Object.assign(new Error('disk gone'), { code: 'SQLITE_IOERR' });
        return { ranges: ranges(1), end: false };
      },
      start: () => first.handle,
      finish: async () => bytes('never'),
      failureTrailer: (f) => bytes(`!${f.code}:${f.detail}`),
    });
    expect(await new Response(handle.body).text()).toBe('a1!sqlite_ioerr:disk gone');
    expect(await handle.done).toMatchObject({ status: 'error', code: 'sqlite_ioerr' });
  });

  it('a client that goes away cancels every started stripe', async () => {
    const stripes = [
      fakeStripe(['a1', 'a2', 'a3'], { status: 'complete' }),
      fakeStripe(['b1'], { status: 'complete' }),
    ];
    const handle = stripedStream({
      ahead: 2,
      sendTimeoutMs: 0,
      nextRanges: async () => ({ ranges: ranges(2), end: true }),
      start: (_range, index) => stripes[index]!.handle,
      finish: async () => bytes(''),
    });
    const reader = handle.body.getReader();
    await reader.read();
    await reader.cancel();
    expect(await handle.done).toMatchObject({ status: 'cancelled' });
    expect(stripes.map((s) => s.log.cancelled)).toEqual([true, true]);
  });

  it('a client that stops reading is dropped after the send timeout, its stripes cancelled', async () => {
    const stripes = [
      fakeStripe(['a1', 'a2'], { status: 'complete' }),
      fakeStripe(['b1'], { status: 'complete' }),
    ];
    const handle = stripedStream({
      ahead: 2,
      sendTimeoutMs: 150,
      nextRanges: async () => ({ ranges: ranges(2), end: true }),
      start: (_range, index) => stripes[index]!.handle,
      finish: async () => bytes(''),
    });
    const reader = handle.body.getReader();
    await reader.read(); // then nothing more
    const outcome = await handle.done;
    expect(outcome).toMatchObject({ status: 'cancelled', code: 'send_timeout' });
    expect(stripes.map((s) => s.log.cancelled)).toEqual([true, true]);
    await expect(reader.read()).rejects.toThrow(/read nothing for 150 ms/);
  });
});
