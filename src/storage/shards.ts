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
 * each hold one, and open one per stream, so this bounds their memory and what they leave scattered in
 * malloc's arenas when they close (perf/search; the soak's 10 streams, perf.md).
 */
export function openShardReader(dataDir: string, tenantId: number): Db {
  return openDatabase(shardPath(dataDir, tenantId), { readonly: true, cacheMiB: SHARD_READER_CACHE_MIB });
}

/** A stream's or export part's private page cache: 512 KiB (128 pages of 4 KiB). */
const SHARD_READER_CACHE_MIB = 0.5;

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
 * Tenants served lately count towards a thread's cache share up to this many. A lane going round 20 tenants
 * one transaction at a time has one connection open: its cache is what that transaction's index pages
 * live in. Counting all 20 (a 2 MiB share of 56) cut the soak's peak to 251 MB but its ingest rate by
 * ~20%; counting 4 (14 MiB) kept the rate and the peak (280 MB); 8 (7 MiB) kept the rate (perf.md).
 */
const RECENT_SHARERS = 8;

/**
 * A worker's open shard connections, one per tenant it has touched. Statements are prepared once per
 * connection and cached by name. Tasks reach them through leases, so a task that awaits (an export
 * job between batches) keeps its connections open however long it runs.
 */
export class ShardConnections implements Shards {
  private readonly open = new Map<number, OpenShard>();
  /**
   * When each tenant was last touched on this thread, kept for `idleMs`: the budget is shared by these, not
   * only by the connections open at this instant. A lane moving between 20 tenants closes each connection
   * as it opens the next (SWITCH_IDLE_MS), so it rarely has two open, and each would get the whole budget:
   * 56 MiB filled per transaction and freed per switch, ~20 MB of the soak's peak (perf.md).
   */
  private readonly recent = new Map<number, number>();
  /** the thread's page cache budget, shared by the tenants it serves (the open options' cacheMiB) */
  private readonly budgetMiB: number;
  /** the share the open connections were last given, and how many were open then */
  private share = 0;
  private sharing = 0;

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
    this.recent.set(tenantId, now);
    if (!entry) {
      // a worker moving to another tenant (one load after another) drops the caches it no longer uses
      this.closeIdle(now, SWITCH_IDLE_MS);
      entry = {
        db: openDatabase(shardPath(this.dataDir, tenantId), {
          ...this.openOptions,
          cacheMiB: this.shareMiB(this.open.size + 1, now),
        }),
        statements: new Map(),
        lastUsed: 0,
        holders: 0,
      };
      this.open.set(tenantId, entry);
    }
    this.rebalance(now);
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
    if (closed) this.rebalance(now);
    return closed;
  }

  /**
   * Each connection's share of the thread's cache budget (at least 1 MiB): the budget over the connections
   * open, or over the tenants touched in the last `idleMs` when those are more, counting at most
   * RECENT_SHARERS of them (connections open together always split it among all of them).
   */
  private shareMiB(connections: number, now: number): number {
    for (const [tenantId, at] of this.recent) if (now - at >= this.idleMs) this.recent.delete(tenantId);
    const sharers = Math.max(1, connections, Math.min(RECENT_SHARERS, this.recent.size));
    return Math.max(1, Math.floor(this.budgetMiB / sharers));
  }

  /**
   * Gives every open connection its share when the share changed; a shrunk cache frees its pages beyond
   * the new size at once, a grown one fills as pages are read.
   */
  private rebalance(now: number): void {
    const share = this.shareMiB(this.open.size, now);
    if (share === this.share && this.open.size === this.sharing) return;
    for (const { db } of this.open.values()) setCacheMiB(db, share);
    this.share = share;
    this.sharing = this.open.size;
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
