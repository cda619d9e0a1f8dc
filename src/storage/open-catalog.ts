/**
 * The catalog of the chosen backend (`--storage`): SQLite's file under the data directory, or PostgreSQL's
 * tables in the database of `--database-url`, migrated before the server uses it.
 */
import type pg from 'pg';
import type { Config } from '../config/load.js';
import { Catalog } from './catalog.js';
import { type CatalogStore, sqliteCatalogStore } from './catalog-store.js';
import { PgCatalog } from './postgres/catalog.js';
import { loadPgDriver } from './postgres/driver.js';
import { migratePostgres } from './postgres/migrations.js';

export interface OpenedCatalog {
  catalog: CatalogStore;
  /** SQLite's catalog, where the tenants' shard files are (null on PostgreSQL) */
  sqlite: Catalog | null;
  /** PostgreSQL's pool (null on SQLite) */
  postgres: pg.Pool | null;
  /** Closes the catalog and, on PostgreSQL, the pool. */
  close(): Promise<void>;
}

export class StorageConfigError extends Error {}

export async function openCatalog(
  config: Config,
  onIdleError: (error: Error) => void = () => {},
): Promise<OpenedCatalog> {
  if (config.storage.kind === 'sqlite') {
    const sqlite = new Catalog(config.server.dataDir);
    return { catalog: sqliteCatalogStore(sqlite), sqlite, postgres: null, close: async () => sqlite.close() };
  }
  const url = config.storage.databaseUrl;
  if (!url) throw new StorageConfigError('--storage postgres needs --database-url (or DATABASE_URL)');
  if (config.ingest.mode === 'inline')
    throw new StorageConfigError(
      '--ingest-mode inline writes SQLite shards; use pool with --storage postgres',
    );
  const { Pool } = await loadPgDriver();
  const pool = new Pool({ connectionString: url, max: config.storage.postgresPoolMax });
  // an idle connection the server dropped is discarded and replaced on demand; unheard, the event would
  // end the process
  pool.on('error', (error) => onIdleError(error));
  const client = await pool.connect().catch(async (error: Error) => {
    await pool.end();
    throw new StorageConfigError(`cannot connect to PostgreSQL: ${error.message}`);
  });
  try {
    await migratePostgres(client);
  } finally {
    client.release();
  }
  const catalog = new PgCatalog(pool);
  return { catalog, sqlite: null, postgres: pool, close: () => pool.end() };
}
