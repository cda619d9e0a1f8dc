import pg from 'pg';
import { createScratchSchema, type ScratchSchema } from '../../tools/lib/scratch-schema.js';

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
export async function scratchSchema(): Promise<
  ScratchSchema & {
    connect: () => Promise<pg.Client>;
    /** a pool whose connections use the schema (the caller ends it) */
    pool: () => pg.Pool;
  }
> {
  const schema = await createScratchSchema(TEST_DATABASE_URL, 'orderflow_test');
  return {
    ...schema,
    connect: async () => {
      const client = new pg.Client({ connectionString: schema.url });
      await client.connect();
      return client;
    },
    pool: () => new pg.Pool({ connectionString: schema.url, max: 4 }),
  };
}
