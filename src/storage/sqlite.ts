import Database, { type Statement } from 'better-sqlite3';

export type Db = Database.Database;

/**
 * Statements prepared once per SQL text for one connection, for a loop whose query text changes only
 * between a few shapes (a keyset query with and without its start position, say).
 */
export function statementCache(
  db: Db,
  prepare = (sql: string) => db.prepare(sql),
): (sql: string) => Statement {
  const statements = new Map<string, Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}

export interface OpenOptions {
  readonly?: boolean;
  /** Page cache in MiB (default DEFAULT_CACHE_MIB; negative cache_size in KiB underneath). */
  cacheMiB?: number;
  /** Memory-mapped I/O window in MiB; off by default because mapped pages count as resident memory. */
  mmapMiB?: number;
  /**
   * WAL pages after which a commit checkpoints (default 10000). A writer lane sets 0: its checkpoints run
   * on another thread (src/jobs/checkpointer.ts), so its commits never wait for one.
   */
  walAutocheckpoint?: number;
  /**
   * NORMAL (the default): a commit is written to the WAL, which is fsynced at the next checkpoint; it
   * survives the process being killed, and the machine losing power once that checkpoint is done. FULL
   * fsyncs the WAL at every commit, so it survives power loss at once. Writer lanes commit FULL by default
   * (--writer-synchronous): under a bulk load, group commit makes that one fsync per tens of thousands of
   * rows, which measured at no cost; a stream of tiny requests pays ~2 ms each (docs/design.md).
   */
  synchronous?: 'NORMAL' | 'FULL';
}

/**
 * How a writer lane opens its shards: a larger page cache (shared by its open shards), no checkpoint
 * inside a commit, and FULL unless told NORMAL: an acknowledged bulk row then survives power loss too.
 */
export function writerLaneOpenOptions(
  cacheMiB: number | undefined,
  synchronous: 'full' | 'normal',
): OpenOptions {
  return {
    ...(cacheMiB === undefined ? {} : { cacheMiB }),
    walAutocheckpoint: 0,
    synchronous: synchronous === 'normal' ? 'NORMAL' : 'FULL',
  };
}

/** The server's SQLite settings (the `sqlite` option group); what is left out takes the defaults here. */
export interface SqliteSettings {
  /** page cache of a pool worker's shard connections, in MiB */
  cacheMiB?: number;
  /** memory-mapped window of every worker's shard connections, in MiB (0: off) */
  mmapMiB?: number;
  /** page cache of a writer lane's shard connections, in MiB */
  writerCacheMiB?: number;
  /** whether a writer lane's commits fsync the WAL (full) or leave it to checkpoints (normal) */
  writerSynchronous?: 'full' | 'normal';
}

/** How a worker thread opens its shards, by its role and the server's settings. */
export function workerShardOpenOptions(
  role: 'pool' | 'lane' | 'upkeep',
  settings: SqliteSettings,
): OpenOptions {
  const base =
    role === 'lane'
      ? writerLaneOpenOptions(settings.writerCacheMiB, settings.writerSynchronous ?? 'full')
      : settings.cacheMiB === undefined
        ? {}
        : { cacheMiB: settings.cacheMiB };
  return settings.mmapMiB ? { ...base, mmapMiB: settings.mmapMiB } : base;
}

/** The page cache of a connection that is given none (a pool worker's: --sqlite-cache-mib). */
export const DEFAULT_CACHE_MIB = 8;

/** Sets a connection's page cache size (negative cache_size: KiB). Shrinking frees pages past it. */
export function setCacheMiB(db: Db, mib: number): void {
  db.pragma(`cache_size = ${-1024 * mib}`);
}

/** A WAL file is cut back to this size after a checkpoint has emptied it (a bulk load can grow it to GBs). */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

/**
 * Opens a database with the pragmas every connection here uses: WAL so readers never block the writer,
 * synchronous NORMAL unless told FULL (see OpenOptions.synchronous), a busy timeout as a safety net
 * behind the application-level write lock, and a bounded page cache (mmap only when asked: --sqlite-mmap-mib).
 */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  const db = new Database(path, { readonly: options.readonly ?? false });
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    // Checkpoint every ~40 MiB of WAL instead of 4 MiB: bulk inserts rewrite the same index pages many
    // times, and fewer checkpoints write each page back fewer times (measured ~10% on 1M orders).
    db.pragma(`wal_autocheckpoint = ${options.walAutocheckpoint ?? 10000}`);
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
  }
  db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
  db.pragma('busy_timeout = 10000');
  setCacheMiB(db, options.cacheMiB ?? DEFAULT_CACHE_MIB);
  db.pragma(`mmap_size = ${(options.mmapMiB ?? 0) * 1024 * 1024}`);
  db.pragma('temp_store = MEMORY');
  db.pragma('foreign_keys = OFF');
  return db;
}
