import Database from 'better-sqlite3';

export type Db = Database.Database;

export interface OpenOptions {
  readonly?: boolean;
  /** Page cache in MiB (negative cache_size in KiB is used underneath). */
  cacheMiB?: number;
}

/**
 * Opens a database with the pragmas every connection here uses: WAL so readers never block the writer,
 * synchronous=NORMAL (durable at checkpoints, safe against corruption), a busy timeout as a safety net
 * behind the application-level write lock, a large page cache and memory-mapped reads.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  const db = new Database(path, { readonly: options.readonly ?? false });
  if (!options.readonly) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  db.pragma(`cache_size = ${-1024 * (options.cacheMiB ?? 32)}`);
  db.pragma('mmap_size = 268435456');
  db.pragma('temp_store = MEMORY');
  db.pragma('foreign_keys = OFF');
  return db;
}
