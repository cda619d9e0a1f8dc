import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadMallocTrim, MemoryTrimmer, type ThreadActivity } from '../../src/obs/memory-trim.js';

/** Threads the test drives by hand. */
function fakeThreads() {
  const state = { activity: 0, busy: false, exits: 0 };
  const threads: ThreadActivity = {
    activity: () => state.activity,
    busy: () => state.busy,
    threadExits: () => state.exits,
  };
  return { state, threads };
}

function trimmer(settleTicks: number) {
  const { state, threads } = fakeThreads();
  let trims = 0;
  let rss = 100;
  const t = new MemoryTrimmer({
    threads,
    settleTicks,
    trim: () => {
      trims++;
      rss -= 10;
      return true;
    },
    rss: () => rss,
  });
  return { state, tick: () => t.tick(), trims: () => trims };
}

describe('MemoryTrimmer', () => {
  it('never trims while a task runs or is queued, nor on the tick that saw activity', () => {
    const t = trimmer(3);
    t.state.busy = true;
    for (let i = 0; i < 5; i++) expect(t.tick()).toBeNull();
    t.state.busy = false;
    t.state.activity++;
    expect(t.tick()).toBeNull(); // a task ended since the last tick: not quiet yet
    expect(t.trims()).toBe(0);
  });

  it('trims on the quiet ticks after activity, settleTicks of them, then stops', () => {
    const t = trimmer(3);
    t.state.activity = 7;
    t.tick();
    const outcomes = [t.tick(), t.tick(), t.tick(), t.tick(), t.tick()];
    expect(outcomes.map((o) => o?.releasedBytes ?? null)).toEqual([10, 10, 10, null, null]);
    expect(outcomes[0]?.rssBytes).toBe(90);
    // new work re-arms it
    t.state.activity++;
    expect(t.tick()).toBeNull();
    expect(t.tick()).not.toBeNull();
  });

  it('a thread exiting once it has settled is worth one more trim (its page caches were freed)', () => {
    const t = trimmer(1);
    t.tick();
    t.tick();
    expect(t.tick()).toBeNull();
    t.state.exits++;
    expect(t.tick()).not.toBeNull();
    expect(t.tick()).toBeNull();
  });
});

// glibc is the C library of every Linux machine we run on (CI included); there the addon must be built
const glibc = Boolean(
  (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime,
);

describe.runIf(glibc)('malloc_trim through the addon (glibc)', () => {
  it('is built and loads', () => {
    expect(loadMallocTrim()).toHaveProperty('trim');
  });

  it('returns the pages of a closed SQLite connection that free() keeps resident', () => {
    const loaded = loadMallocTrim();
    if (!('trim' in loaded)) throw new Error(loaded.unavailable);
    const mib = () => process.memoryUsage.rss() / 2 ** 20;
    // ~40 MB of page cache, then a small connection allocated after it: closing the first leaves its
    // pages free in the middle of the heap, where free() cannot give them back
    const big = new Database(':memory:');
    big.pragma('cache_size = -200000');
    big.exec('CREATE TABLE t (x BLOB)');
    const insert = big.prepare('INSERT INTO t VALUES (randomblob(3000))');
    big.transaction(() => {
      for (let i = 0; i < 10_000; i++) insert.run();
    })();
    const kept = new Database(':memory:');
    kept.exec('CREATE TABLE t (x BLOB); INSERT INTO t VALUES (randomblob(3000))');
    big.close();
    const closed = mib();
    loaded.trim();
    expect(closed - mib()).toBeGreaterThan(20);
    kept.close();
  });
});
