import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { prepareShard, ShardConnections } from '../../src/storage/shards.js';
import {
  type OpenOptions,
  openDatabase,
  workerShardOpenOptions,
  writerLaneOpenOptions,
} from '../../src/storage/sqlite.js';
import { removeDir, tempDataDir } from '../helpers/server.js';

describe('ShardConnections', () => {
  it('reuses a connection and its cached statements, and closes connections left idle', () => {
    const dir = tempDataDir();
    try {
      prepareShard(dir, 1);
      prepareShard(dir, 2);
      const shards = new ShardConnections(dir, 1000);
      const db1 = shards.db(1);
      const stmt = shards.cached(1, 'count', (db) => db.prepare('SELECT count(*) AS n FROM orders'));
      expect(shards.db(1)).toBe(db1);
      expect(shards.cached(1, 'count', () => null)).toBe(stmt);
      shards.db(2);
      const now = Date.now();
      expect(shards.closeIdle(now)).toBe(0);
      expect(shards.closeIdle(now + 1500)).toBe(2);
      expect(shards.size).toBe(0);
      expect(db1.open).toBe(false);
      // reopened on demand, statements rebuilt
      expect(
        (
          shards.cached(1, 'count', (db) => db.prepare('SELECT count(*) AS n FROM orders')).get() as {
            n: number;
          }
        ).n,
      ).toBe(0);
      shards.closeAll();
    } finally {
      removeDir(dir);
    }
  });

  afterEach(() => vi.useRealTimers());

  it('never closes a connection a task holds, however long the task awaits', () => {
    const dir = tempDataDir();
    try {
      prepareShard(dir, 1);
      const shards = new ShardConnections(dir, 1000);
      const lease = shards.lease();
      const db = lease.db(1);
      lease.cached(1, 'x', () => 1);
      expect(shards.closeIdle(Date.now() + 60_000)).toBe(0); // an export job between batches
      expect(db.open).toBe(true);
      lease.release();
      expect(shards.closeIdle(Date.now() + 60_000)).toBe(1);
      expect(db.open).toBe(false);
      shards.closeAll();
    } finally {
      removeDir(dir);
    }
  });

  it('opening another shard closes the ones left idle over 100 ms (a worker moving between tenants)', () => {
    const dir = tempDataDir();
    try {
      prepareShard(dir, 1);
      prepareShard(dir, 2);
      prepareShard(dir, 3);
      vi.useFakeTimers();
      vi.setSystemTime(1_000_000);
      const shards = new ShardConnections(dir); // idle close after 10 s otherwise
      const first = shards.db(1);
      const lease = shards.lease();
      lease.db(3); // held: stays
      vi.setSystemTime(1_000_050);
      shards.db(2);
      expect(shards.size).toBe(3); // tenant 1 idle only 50 ms
      vi.setSystemTime(1_001_600);
      shards.db(2);
      expect(shards.closeIdle(Date.now(), 1000)).toBe(1); // tenant 1, idle 1.6 s; 3 held, 2 just used
      expect(first.open).toBe(false);
      vi.setSystemTime(1_001_800);
      shards.db(1); // reopened: tenant 2 idle 200 ms is closed on the way, 3 is held
      expect(shards.size).toBe(2);
      lease.release();
      shards.closeAll();
    } finally {
      removeDir(dir);
    }
  });
  it("shares the thread's cache budget among its open connections and gives it back as they close", () => {
    const dir = tempDataDir();
    try {
      for (const t of [1, 2, 3, 4]) prepareShard(dir, t);
      const shards = new ShardConnections(dir, 1000, { cacheMiB: 8 });
      const cacheKiB = (t: number) => -(shards.db(t).pragma('cache_size', { simple: true }) as number);
      expect(cacheKiB(1)).toBe(8 * 1024);
      for (const t of [2, 3, 4]) shards.db(t);
      expect([1, 2, 3, 4].map(cacheKiB)).toEqual([2048, 2048, 2048, 2048]);
      const lease = shards.lease();
      lease.db(1); // held: not closed
      expect(shards.closeIdle(Date.now() + 2000)).toBe(3);
      expect(cacheKiB(1)).toBe(8 * 1024);
      lease.release();
      shards.closeAll();
    } finally {
      removeDir(dir);
    }
  });

  it('shares the budget among the tenants served lately, though it moves between them one connection at a time', () => {
    const dir = tempDataDir();
    try {
      const tenants = [1, 2, 3, 4, 5, 6, 7, 8, 9];
      for (const t of tenants) prepareShard(dir, t);
      vi.useFakeTimers();
      vi.setSystemTime(2_000_000);
      const shards = new ShardConnections(dir, 10_000, { cacheMiB: 16 });
      const cacheKiB = (t: number) => -(shards.db(t).pragma('cache_size', { simple: true }) as number);
      const seen: number[] = [];
      for (const t of tenants) {
        vi.advanceTimersByTime(200); // each switch closes the connection before: one open at a time
        seen.push(cacheKiB(t) / 1024);
        expect(shards.size).toBe(1);
      }
      // a lane going round 20 tenants this way used to give each connection the whole budget; nine
      // tenants share it as eight (RECENT_SHARERS), in whole MiB
      expect(seen).toEqual([16, 8, 5, 4, 3, 2, 2, 2, 2]);
      vi.advanceTimersByTime(200);
      expect(cacheKiB(1)).toBe(2048); // all still served within the idle window
      vi.advanceTimersByTime(10_000);
      expect(cacheKiB(1)).toBe(16384); // the others quiet for 10 s: the one left gets the whole budget back
      expect(shards.size).toBe(1);
      shards.closeAll();
    } finally {
      removeDir(dir);
    }
  });
});

describe('writer lane connections', () => {
  const pragmas = (options: OpenOptions) => {
    const dir = tempDataDir();
    try {
      const db = openDatabase(join(dir, 'shard.db'), options);
      const read = (name: string) => db.pragma(name, { simple: true });
      const values = {
        synchronous: read('synchronous'),
        wal_autocheckpoint: read('wal_autocheckpoint'),
        cache_size: read('cache_size'),
        mmap_size: read('mmap_size'),
      };
      db.close();
      return values;
    } finally {
      removeDir(dir);
    }
  };

  it('commit FULL by default (an acknowledged row survives power loss), NORMAL when asked, and never checkpoint inline', () => {
    expect(pragmas(writerLaneOpenOptions(56, 'full'))).toEqual({
      synchronous: 2,
      wal_autocheckpoint: 0,
      cache_size: -56 * 1024,
      mmap_size: 0,
    });
    expect(pragmas(writerLaneOpenOptions(56, 'normal')).synchronous).toBe(1);
    // the other connections: NORMAL (durable across a crash of the process; power loss after a checkpoint)
    expect(pragmas({})).toMatchObject({ synchronous: 1, wal_autocheckpoint: 10000 });
  });

  it('each role opens its shards with the server settings (--sqlite-cache-mib, --sqlite-mmap-mib, --writer-*)', () => {
    const settings = {
      cacheMiB: 6,
      mmapMiB: 16,
      writerCacheMiB: 40,
      writerSynchronous: 'normal' as const,
    };
    expect(pragmas(workerShardOpenOptions('pool', settings))).toEqual({
      synchronous: 1,
      wal_autocheckpoint: 10000,
      cache_size: -6 * 1024,
      mmap_size: 16 * 2 ** 20,
    });
    expect(pragmas(workerShardOpenOptions('lane', settings))).toEqual({
      synchronous: 1,
      wal_autocheckpoint: 0,
      cache_size: -40 * 1024,
      mmap_size: 16 * 2 ** 20,
    });
    // nothing set: the defaults (8 MiB, no mmap), whatever the environment says
    expect(pragmas(workerShardOpenOptions('pool', {}))).toMatchObject({
      cache_size: -8 * 1024,
      mmap_size: 0,
    });
  });
});
