import { describe, expect, it } from 'vitest';
import { ChunksInFlight } from '../../src/ingest/chunks-in-flight.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ChunksInFlight', () => {
  it('holds at most `max` chunks: room() waits for one to settle, and each settles its bytes once', async () => {
    const inFlight = new ChunksInFlight(2);
    const released: number[] = [];
    const done: string[] = [];
    const a = deferred<string>();
    const b = deferred<string>();
    inFlight.track(
      a.promise,
      () => released.push(1),
      (v) => done.push(v),
    );
    inFlight.track(
      b.promise,
      () => released.push(2),
      (v) => done.push(v),
    );
    let roomy = false;
    const waiting = inFlight.room().then(() => {
      roomy = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(roomy).toBe(false);
    a.resolve('a');
    await waiting;
    expect(roomy).toBe(true);
    expect(done).toEqual(['a']);
    b.resolve('b');
    await inFlight.settled();
    expect(released.sort()).toEqual([1, 2]);
    expect(inFlight.size).toBe(0);
  });

  it('keeps the first failure, releases the failed chunk too, and room() throws it', async () => {
    const inFlight = new ChunksInFlight(4);
    const released: string[] = [];
    const first = new Error('first');
    inFlight.track(Promise.reject(first), () => released.push('x'));
    inFlight.track(Promise.reject(new Error('second')), () => released.push('y'));
    await inFlight.settled();
    expect(inFlight.failure).toBe(first);
    expect(released).toEqual(['x', 'y']);
    await expect(inFlight.room()).rejects.toBe(first);
  });
});
