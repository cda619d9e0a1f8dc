import type { ClientBase } from 'pg';

/** A tenant's partition of `table`: one name per tenant and table, as SQLite has one file per tenant. */
export function partitionName(table: string, tenantId: number): string {
  return `${table}_t${tenantId}`;
}

function tenantId(id: number): number {
  if (!Number.isSafeInteger(id) || id < 1) throw new RangeError(`not a tenant id: ${id}`);
  return id;
}

/** The tables partitioned by tenant in the current schema (every table but the catalog's). */
export async function partitionedTables(client: ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ table: string }>(
    `SELECT c.relname AS table
       FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
      WHERE c.relnamespace = current_schema()::regnamespace
      ORDER BY c.relname`,
  );
  return rows.map((r) => r.table);
}

/**
 * Creates the tenant's partition of `table` as a table of its own, then attaches it. `CREATE TABLE … PARTITION
 * OF` locks the parent ACCESS EXCLUSIVE until the tenant's transaction commits, and a tenant's partitions are
 * created table after table: every other tenant's reads and writes of those tables wait behind it, and a
 * writer holding one parent while it waits for another closes a cycle (a tenant created during another's
 * load deadlocked; test/integration/postgres-server.test.ts). ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE
 * on the parent, which no read or write conflicts with; the new table is empty, so checking it is free.
 */
async function createPartition(client: ClientBase, table: string, tenant: number): Promise<void> {
  const name = partitionName(table, tenant);
  const partition = client.escapeIdentifier(name);
  const parent = client.escapeIdentifier(table);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${partition}
       (LIKE ${parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE
         INCLUDING COMPRESSION)`,
  );
  const attached = await client.query('SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1)', [name]);
  if (attached.rowCount === 0)
    await client.query(`ALTER TABLE ${parent} ATTACH PARTITION ${partition} FOR VALUES IN (${tenant})`);
}

/** Creates the tenant's partition of every partitioned table (those it has already are kept), with the tenant. */
export async function createTenantPartitions(client: ClientBase, id: number): Promise<void> {
  const tenant = tenantId(id);
  for (const table of await partitionedTables(client)) await createPartition(client, table, tenant);
}

/**
 * Every tenant of the catalog gets the partitions it lacks (after a migration added a table). One query
 * finds the missing ones, so a start with nothing to add issues no DDL whatever the number of tenants.
 */
export async function ensureAllTenantPartitions(client: ClientBase): Promise<void> {
  const { rows } = await client.query<{ tenant_id: number; table: string }>(
    `SELECT t.tenant_id, c.relname AS table
       FROM tenants t
       CROSS JOIN pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
      WHERE c.relnamespace = current_schema()::regnamespace
        -- partitionName(), in SQL
        AND to_regclass(quote_ident(c.relname || '_t' || t.tenant_id)) IS NULL
      ORDER BY t.tenant_id, c.relname`,
  );
  for (const row of rows) await createPartition(client, row.table, row.tenant_id);
}

/** The foreign keys between partitioned tables, as referencing -> referenced table names. */
async function foreignKeys(client: ClientBase): Promise<{ from: string; to: string }[]> {
  const { rows } = await client.query<{ from: string; to: string }>(
    `SELECT DISTINCT f.relname AS from, t.relname AS to
       FROM pg_constraint k JOIN pg_class f ON f.oid = k.conrelid JOIN pg_class t ON t.oid = k.confrelid
      WHERE k.contype = 'f' AND f.relkind = 'p' AND t.relkind = 'p'
        AND f.relnamespace = current_schema()::regnamespace`,
  );
  return rows;
}

/**
 * Drops the tenant's partitions, and with them all its data: tenant deletion is this, not a DELETE over
 * shared tables. A partition is detached before it is dropped (the other tenants' foreign keys stay
 * whole), referencing tables before the tables they reference (items, then orders, then customers).
 */
export async function dropTenantPartitions(client: ClientBase, id: number): Promise<void> {
  const tenant = tenantId(id);
  const keys = await foreignKeys(client);
  let left = await partitionedTables(client);
  while (left.length) {
    // the tables no remaining table references
    const free = left.filter((t) => !keys.some((k) => k.to === t && k.from !== t && left.includes(k.from)));
    if (free.length === 0) throw new Error(`foreign keys form a cycle among ${left.join(', ')}`);
    for (const table of free) {
      const partition = partitionName(table, tenant);
      const exists = (await client.query('SELECT to_regclass($1) AS t', [partition])).rows[0].t !== null;
      if (!exists) continue;
      await client.query(
        `ALTER TABLE ${client.escapeIdentifier(table)} DETACH PARTITION ${client.escapeIdentifier(partition)}`,
      );
      await client.query(`DROP TABLE ${client.escapeIdentifier(partition)}`);
    }
    left = left.filter((t) => !free.includes(t));
  }
}
