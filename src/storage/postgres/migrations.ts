import type { ClientBase } from 'pg';
import { migrationsFor } from '../migrations.js';
import { ensureAllTenantPartitions } from './tenant-partitions.js';

/** The advisory lock key every server takes while it migrates: two servers starting at once take turns. */
const MIGRATION_LOCK = 7_140_001;

/**
 * Applies the plain-SQL migrations of `sql/postgres/` not yet recorded in `schema_migrations`, in order,
 * in one transaction under an advisory lock, then makes sure every tenant has its partition of every
 * partitioned table (a migration that adds one gets the existing tenants' partitions this way). Several
 * servers on one database may start at once: the second waits for the first and finds nothing to do.
 * Answers the versions it applied.
 */
export async function migratePostgres(client: ClientBase): Promise<string[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version    text        PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = new Set(
      (await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const applied: string[] = [];
    for (const migration of migrationsFor('postgres')) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
      applied.push(migration.version);
    }
    await ensureAllTenantPartitions(client);
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
