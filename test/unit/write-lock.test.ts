import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createWriteLockBuffer } from '../../src/storage/write-lock.js';
import { ROOT } from '../helpers/server.js';

async function race(locked: boolean, threads = 4, rounds = 300): Promise<number> {
  const lock = createWriteLockBuffer();
  const counter = new SharedArrayBuffer(4);
  const url = new URL('test/fixtures/lock-worker.mjs', `file://${ROOT}`);
  await Promise.all(
    Array.from({ length: threads }, () => {
      const w = new Worker(url, { workerData: { lock, counter, rounds, locked } });
      return new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }).finally(() => w.terminate());
    }),
  );
  return new Int32Array(counter)[0]!;
}

describe('ShardWriteLock across worker threads', () => {
  it('serialises read-modify-write sections so no update is lost', async () => {
    expect(await race(true)).toBe(4 * 300);
  });

  it('the race is real: without the lock, updates are lost', async () => {
    expect(await race(false)).toBeLessThan(4 * 300);
  });
});
