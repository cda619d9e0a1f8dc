import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendBody } from '../../src/uploads/append-body.js';
import { FileStaging } from '../../src/uploads/file-staging.js';
import { UploadEnded } from '../../src/uploads/staging.js';

const dirs: string[] = [];
function stagingFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'of-append-'));
  dirs.push(dir);
  const path = join(dir, 'staging');
  writeFileSync(path, '');
  return path;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A body of `n` pieces of `size` bytes ('a', 'b', …); `pulled` counts the pieces taken. */
function body(n: number, size: number, progress: { pulled: number }) {
  return (async function* () {
    for (let i = 0; i < n; i++) {
      progress.pulled++;
      yield Buffer.alloc(size, 97 + i);
    }
  })();
}

describe('appendBody', () => {
  it('keeps reading the body while an offset commit waits (a shard lock held by a writer)', async () => {
    const path = stagingFile();
    const progress = { pulled: 0 };
    const commits: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const pulledWhenFirstCommitEnded: number[] = [];
    const appended = appendBody(body(5, 100, progress), {
      path,
      offset: 0,
      length: null,
      durableEvery: 100,
      commit: async (offset) => {
        if (commits.length === 0) await held; // the first commit waits for the lock
        commits.push(offset);
        if (commits.length === 1) pulledWhenFirstCommitEnded.push(progress.pulled);
      },
    });
    // the whole body is read while the first commit still waits
    while (progress.pulled < 5) await new Promise((r) => setTimeout(r, 5));
    expect(commits).toEqual([]);
    release();
    const result = await appended;
    expect(result).toMatchObject({ offset: 500, overflow: false, error: null });
    expect(pulledWhenFirstCommitEnded).toEqual([5]);
    // one commit at a time, offsets only grow, each at a durable length; the newest target wins
    expect(commits[0]).toBe(100);
    expect(commits.at(-1)).toBe(500);
    expect([...commits].sort((a, b) => a - b)).toEqual(commits);
    expect(commits.length).toBeLessThan(5);
    expect(readFileSync(path).toString()).toBe(
      'a'.repeat(100) + 'b'.repeat(100) + 'c'.repeat(100) + 'd'.repeat(100) + 'e'.repeat(100),
    );
  });

  it('a commit that fails stops reading the body and is reported; the bytes that arrived are kept', async () => {
    const path = stagingFile();
    const progress = { pulled: 0 };
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    // a body that keeps coming for a while (1 ms a piece), so the failed commit lands in the middle of it
    const slow = (async function* () {
      for await (const piece of body(500, 100, progress)) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        yield piece;
      }
    })();
    const result = await appendBody(slow, {
      path,
      offset: 0,
      length: null,
      durableEvery: 100,
      commit: async () => {
        throw full;
      },
    });
    expect(result.error).toBe(full);
    expect(progress.pulled).toBeLessThan(500);
    expect(readFileSync(path).length).toBe(result.offset);
  });

  it('a commit that fails after the last byte is still reported', async () => {
    const path = stagingFile();
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const result = await appendBody(body(3, 100, { pulled: 0 }), {
      path,
      offset: 0,
      length: null,
      durableEvery: 100,
      commit: async () => {
        // fails only once the body is over
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw full;
      },
    });
    expect(result.error).toBe(full);
    expect(result.offset).toBe(300);
  });

  it('drops bytes past the declared length and says so', async () => {
    const path = stagingFile();
    const result = await appendBody(body(3, 100, { pulled: 0 }), {
      path,
      offset: 0,
      length: 250,
      durableEvery: 1000,
      commit: async () => {},
    });
    expect(result).toMatchObject({ offset: 250, overflow: true, error: null });
    expect(readFileSync(path).length).toBe(250);
  });
});

describe('FileStaging', () => {
  it('an append to an upload whose staging file is gone (its processing ended) is UploadEnded, not an I/O error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'of-staging-'));
    dirs.push(dir);
    const staging = new FileStaging(dir);
    await staging.create(1, 'upl_ended000000000000');
    await staging.drop(1, 'upl_ended000000000000'); // as finishing the upload deletes it
    const upload = {
      tenantId: 1,
      uploadId: 'upl_ended000000000000',
      received: 0,
      length: null,
      metadata: {},
      writing: true,
      stopped: false,
      wake: () => {},
      processing: null,
    };
    await expect(
      staging.append(upload, body(1, 10, { pulled: 0 }), {
        offset: 0,
        length: null,
        durableEvery: 1 << 20,
        commit: async () => {},
      }),
    ).rejects.toBeInstanceOf(UploadEnded);
  });
});
