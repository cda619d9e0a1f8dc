import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.js';
import { type Db, openDatabase } from './sqlite.js';

export function shardDir(dataDir: string): string {
  return join(dataDir, 'shards');
}

export function shardFileName(tenantId: number): string {
  return `tenant-${tenantId}.db`;
}

export function shardPath(dataDir: string, tenantId: number): string {
  return join(shardDir(dataDir), shardFileName(tenantId));
}

/** Creates (if needed) and migrates a tenant's shard, then closes it. */
export function prepareShard(dataDir: string, tenantId: number): void {
  mkdirSync(shardDir(dataDir), { recursive: true });
  const db = openDatabase(shardPath(dataDir, tenantId), { cacheMiB: 2 });
  try {
    migrate(db, 'shard');
  } finally {
    db.close();
  }
}

/**
 * A worker's open shard connections, one per tenant it has touched. Statements are prepared once per
 * connection and cached by name.
 */
export class ShardConnections {
  private readonly open = new Map<number, { db: Db; statements: Map<string, unknown>; lastUsed: number }>();

  constructor(
    private readonly dataDir: string,
    /** Connections unused this long are closed: each holds a page cache, and a worker may touch many shards. */
    private readonly idleMs = 10_000,
  ) {}

  db(tenantId: number): Db {
    return this.entry(tenantId).db;
  }

  /** A prepared statement (or any per-connection object) built once per shard and reused. */
  cached<T>(tenantId: number, name: string, build: (db: Db) => T): T {
    const entry = this.entry(tenantId);
    let value = entry.statements.get(name) as T | undefined;
    if (value === undefined) {
      value = build(entry.db);
      entry.statements.set(name, value);
    }
    return value;
  }

  private entry(tenantId: number) {
    let entry = this.open.get(tenantId);
    if (!entry) {
      entry = { db: openDatabase(shardPath(this.dataDir, tenantId)), statements: new Map(), lastUsed: 0 };
      this.open.set(tenantId, entry);
    }
    entry.lastUsed = Date.now();
    return entry;
  }

  /** Closes the connections (and their caches and statements) no task has used for `idleMs`. */
  closeIdle(now = Date.now()): number {
    let closed = 0;
    for (const [tenantId, entry] of this.open) {
      if (now - entry.lastUsed < this.idleMs) continue;
      entry.db.close();
      this.open.delete(tenantId);
      closed++;
    }
    return closed;
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const { db } of this.open.values()) db.close();
    this.open.clear();
  }
}
