import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.js';
import { type Db, DEFAULT_CACHE_MIB, type OpenOptions, openDatabase, setCacheMiB } from './sqlite.js';

export function shardDir(dataDir: string): string {
  return join(dataDir, 'shards');
}

export function shardFileName(tenantId: number): string {
  return `tenant-${tenantId}.db`;
}

export function shardPath(dataDir: string, tenantId: number): string {
  return join(shardDir(dataDir), shardFileName(tenantId));
}

/**
 * A read-only connection of its own for one long read (a stream, an export part): an open iterator
 * blocks other statements on a connection, so it does not use the thread's shared one. A small private
 * cache: a scan reads each page about once and the OS page cache serves re-reads; concurrent streams
 * each hold one, so this bounds their memory (measured in perf/search).
 */
export function openShardReader(dataDir: string, tenantId: number): Db {
  return openDatabase(shardPath(dataDir, tenantId), { readonly: true, cacheMiB: 2 });
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

/** What a task uses to reach shards: a connection per tenant and objects cached on it. */
export interface Shards {
  db(tenantId: number): Db;
  /** A prepared statement (or any per-connection object) built once per shard and reused. */
  cached<T>(tenantId: number, name: string, build: (db: Db) => T): T;
}

/** A task's view of the worker's connections: every shard it touches stays open until `release`. */
export interface ShardLease extends Shards {
  release(): void;
}

interface OpenShard {
  db: Db;
  statements: Map<string, unknown>;
  lastUsed: number;
  /** tasks holding the connection (leases): never closed while held */
  holders: number;
}

/**
 * Opening a shard closes the others no task holds and none used for this long: a worker moving from
 * one tenant to another keeps one page cache, not two (perf/ingest: a second tenant's load right after
 * a first one ran ~12 MB higher for its first 10 s, until the idle close; at 1 s the switch came too
 * soon to catch it). Tasks of different tenants interleaving faster than this keep their connections.
 */
const SWITCH_IDLE_MS = 100;

/**
 * A worker's open shard connections, one per tenant it has touched. Statements are prepared once per
 * connection and cached by name. Tasks reach them through leases, so a task that awaits (an export
 * job between batches) keeps its connections open however long it runs.
 */
export class ShardConnections implements Shards {
  private readonly open = new Map<number, OpenShard>();
  /** the thread's page cache budget, shared by its open connections (the open options' cacheMiB) */
  private readonly budgetMiB: number;

  constructor(
    private readonly dataDir: string,
    /** Connections unused this long are closed: each holds a page cache, and a worker may touch many shards. */
    private readonly idleMs = 10_000,
    /**
     * How connections are opened (a writer lane's differ: bigger cache, no inline checkpoints). Its cacheMiB
     * is the budget of all of them together: with several tenants open at once, each gets its share, so a
     * thread's page caches stay bounded however many tenants it serves (20 tenants loading at once peaked
     * at 264 MB with a full cache each, issue 21).
     */
    private readonly openOptions: OpenOptions = {},
  ) {
    this.budgetMiB = openOptions.cacheMiB ?? DEFAULT_CACHE_MIB;
  }

  db(tenantId: number): Db {
    return this.entry(tenantId).db;
  }

  cached<T>(tenantId: number, name: string, build: (db: Db) => T): T {
    return cachedOn(this.entry(tenantId), name, build);
  }

  lease(): ShardLease {
    const held = new Map<number, OpenShard>();
    const hold = (tenantId: number) => {
      const entry = this.entry(tenantId);
      if (held.get(tenantId) !== entry) {
        held.set(tenantId, entry);
        entry.holders++;
      }
      return entry;
    };
    return {
      db: (tenantId) => hold(tenantId).db,
      cached: (tenantId, name, build) => cachedOn(hold(tenantId), name, build),
      release: () => {
        const now = Date.now();
        for (const entry of held.values()) {
          entry.holders--;
          entry.lastUsed = now;
        }
        held.clear();
      },
    };
  }

  private entry(tenantId: number): OpenShard {
    let entry = this.open.get(tenantId);
    const now = Date.now();
    if (!entry) {
      // a worker moving to another tenant (one load after another) drops the caches it no longer uses
      this.closeIdle(now, SWITCH_IDLE_MS);
      entry = {
        db: openDatabase(shardPath(this.dataDir, tenantId), {
          ...this.openOptions,
          cacheMiB: this.shareMiB(this.open.size + 1),
        }),
        statements: new Map(),
        lastUsed: 0,
        holders: 0,
      };
      this.open.set(tenantId, entry);
      this.rebalance();
    }
    entry.lastUsed = now;
    return entry;
  }

  /** Closes the connections (and their caches and statements) no task holds and none used for `idleMs`. */
  closeIdle(now = Date.now(), idleMs = this.idleMs): number {
    let closed = 0;
    for (const [tenantId, entry] of this.open) {
      if (entry.holders > 0 || now - entry.lastUsed < idleMs) continue;
      entry.db.close();
      this.open.delete(tenantId);
      closed++;
    }
    if (closed) this.rebalance();
    return closed;
  }

  /** Each open connection's share of the thread's cache budget (at least 1 MiB). */
  private shareMiB(connections: number): number {
    return Math.max(1, Math.floor(this.budgetMiB / Math.max(1, connections)));
  }

  /** Gives every open connection its share; a shrunk cache frees its pages beyond the new size at once. */
  private rebalance(): void {
    const share = this.shareMiB(this.open.size);
    for (const { db } of this.open.values()) setCacheMiB(db, share);
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const { db } of this.open.values()) db.close();
    this.open.clear();
  }
}

/** The object cached on a connection under `name`, built on first use. */
function cachedOn<T>(entry: OpenShard, name: string, build: (db: Db) => T): T {
  let value = entry.statements.get(name) as T | undefined;
  if (value === undefined) {
    value = build(entry.db);
    entry.statements.set(name, value);
  }
  return value;
}
