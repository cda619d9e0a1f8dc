import { describe, expect, it } from 'vitest';
import { prepareShard, ShardConnections } from '../../src/storage/shards.js';
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
});
