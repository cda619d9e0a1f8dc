import type { ClientBase } from 'pg';
import { migrationsFor } from '../migrations.js';
import { lockInstallation } from './tenant-locks.js';
import { ensureAllTenantPartitions } from './tenant-partitions.js';
import { inTransaction } from './transaction.js';

/**
 * Applies the plain-SQL migrations of `sql/postgres/` not yet recorded in `schema_migrations`, in order,
 * in one transaction under the installation's advisory lock (of this schema: installations in other
 * schemas of the database migrate at once), then makes sure every tenant has its partition of every
 * partitioned table (a migration that adds one gets the existing tenants' partitions this way). Several
 * servers on one database may start at once: the second waits for the first and finds nothing to do.
 * Answers the versions it applied.
 */
export function migratePostgres(client: ClientBase): Promise<string[]> {
  return inTransaction(client, async () => {
    await lockInstallation(client, 'migrations');
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
    return applied;
  });
}
