import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL the tests use: DATABASE_URL, else the local server's `test` database. */
export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL tests are skipped on this machine, or null when a server answers. */
export async function postgresUnavailable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return `no PostgreSQL at ${TEST_DATABASE_URL}: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A schema of its own for one test file (dropped by `drop`), and clients whose search_path is it: tests
 * share the server without seeing each other's tables.
 */
export async function scratchSchema(): Promise<{
  name: string;
  connect: () => Promise<pg.Client>;
  /** a pool whose connections use the schema (the caller ends it) */
  pool: () => pg.Pool;
  drop: () => Promise<void>;
}> {
  const name = `orderflow_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  await admin.end();
  const connect = async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${name}` });
    await client.connect();
    return client;
  };
  return {
    name,
    connect,
    pool: () =>
      new pg.Pool({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${name}`, max: 4 }),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${name} CASCADE`);
      await c.end();
    },
  };
}
