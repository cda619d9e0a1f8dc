import type { ClientBase } from 'pg';

/**
 * Transaction-scoped advisory locks: a tenant's, and the installation's. PostgreSQL's advisory locks belong to the database, not to
 * a schema: two installations in one database (a schema each, as the test suites run side by side) would
 * take each other's locks, and a refresher of one skipped a tenant of the same id in the other (seen in CI).
 * So a lock's class is the hash of the current schema and the lock's name; its second key is the tenant id.
 */
export type TenantLock = 'rollup_refresh' | 'export_quota' | 'upload_quota';

const CLASS = "hashtext(current_schema() || '/' || $1)";

/** A lock of the whole installation (this schema), not of one tenant: applying migrations. */
export type InstallationLock = 'migrations';

/** Waits for the installation's lock until the transaction ends (its second key, 0, is no tenant's id). */
export async function lockInstallation(client: ClientBase, lock: InstallationLock): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${CLASS}, 0)`, [lock]);
}

/** Waits for the tenant's lock until the transaction ends. */
export async function lockTenant(client: ClientBase, lock: TenantLock, tenantId: number): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${CLASS}, $2)`, [lock, tenantId]);
}

/** Takes the tenant's lock until the transaction ends if no one holds it; false if someone does. */
export async function tryLockTenant(
  client: ClientBase,
  lock: TenantLock,
  tenantId: number,
): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT pg_try_advisory_xact_lock(${CLASS}, $2) AS ok`,
    [lock, tenantId],
  );
  return rows[0]!.ok;
}
