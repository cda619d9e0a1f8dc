import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { lockInstallation, lockTenant, tryLockTenant } from '../../src/storage/postgres/tenant-locks.js';
import { postgresUnavailable, suiteSchema } from '../helpers/postgres.js';

/**
 * A tenant's advisory locks are its installation's: another schema in the same database (another
 * installation, or another test suite) takes the same tenant id's lock at once, while a second client of
 * the same schema waits or is refused. Before, a refresher in one suite skipped the tenant of another.
 */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`tenant locks on PostgreSQL not tested: ${unavailable}`);

describe.skipIf(unavailable !== null)("a tenant's advisory locks on PostgreSQL", () => {
  // two clients in one schema, one in another
  const one = suiteSchema({ clients: 2 });
  const another = suiteSchema();

  it('are held per schema and per lock: the same schema is refused, another schema and another lock are not', async () => {
    const [first, sameSchema] = one.clients as [pg.Client, pg.Client];
    const otherSchema = another.client;
    const clients = [first, sameSchema, otherSchema];
    for (const c of clients) await c.query('BEGIN');
    try {
      expect(await tryLockTenant(first, 'rollup_refresh', 7)).toBe(true);
      expect(await tryLockTenant(sameSchema, 'rollup_refresh', 7)).toBe(false);
      expect(await tryLockTenant(sameSchema, 'rollup_refresh', 8)).toBe(true); // another tenant
      expect(await tryLockTenant(sameSchema, 'export_quota', 7)).toBe(true); // another lock
      expect(await tryLockTenant(otherSchema, 'rollup_refresh', 7)).toBe(true); // another installation
      // lockTenant waits while the lock is held in its own schema, until the holder's transaction ends
      await lockTenant(first, 'upload_quota', 7);
      let taken = false;
      const waiting = lockTenant(sameSchema, 'upload_quota', 7).then(() => {
        taken = true;
      });
      await lockTenant(otherSchema, 'upload_quota', 7); // another installation does not wait
      await new Promise((r) => setTimeout(r, 200));
      expect(taken).toBe(false);
      await first.query('ROLLBACK');
      await waiting;
      expect(taken).toBe(true);
      await first.query('BEGIN'); // for the ROLLBACK below
    } finally {
      for (const c of clients) await c.query('ROLLBACK');
    }
    // released with the transaction
    await first.query('BEGIN');
    expect(await tryLockTenant(first, 'rollup_refresh', 7)).toBe(true);
    await first.query('ROLLBACK');
  });

  it("migrations take their installation's lock: a second server of the schema waits, another schema's does not", async () => {
    const [holder, sameSchema] = one.clients as [pg.Client, pg.Client];
    await holder.query('BEGIN');
    try {
      await lockInstallation(holder, 'migrations'); // as a server migrating this schema holds it
      let migrated = false;
      const waiting = migratePostgres(sameSchema).then((applied) => {
        migrated = true;
        return applied;
      });
      // another installation in the same database migrates at once
      expect((await migratePostgres(another.client)).length).toBeGreaterThan(10);
      await new Promise((r) => setTimeout(r, 200));
      expect(migrated).toBe(false);
      await holder.query('ROLLBACK');
      expect((await waiting).length).toBeGreaterThan(10);
    } finally {
      await holder.query('ROLLBACK');
    }
  });
});
