import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { partitionName } from '../../src/storage/postgres/tenant-partitions.js';
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

/**
 * Whether the files PostgreSQL keeps for the tenant's partitions of `tables` (their heaps, TOAST and
 * indexes) hold any of `texts`, after a CHECKPOINT writes the buffered pages out: the bytes on disk, as
 * SQLite's tests read a shard's file. Null when none of the files can be read by this process (another
 * machine, other permissions). Values PostgreSQL compressed into TOAST are not seen this way: callers
 * check rows by SQL too.
 */
export async function relationFilesHold(
  client: pg.ClientBase,
  tables: readonly string[],
  tenantId: number,
  texts: readonly string[],
): Promise<{ held: string[]; files: number } | null> {
  await client.query('CHECKPOINT');
  const { rows } = await client.query<{ path: string }>(
    `SELECT current_setting('data_directory') || '/' || pg_relation_filepath(c.oid) AS path
       FROM pg_class c
      WHERE c.oid = ANY($1::regclass[])
         OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE oid = ANY($1::regclass[]))
         OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY($1::regclass[]))`,
    [tables.map((t) => partitionName(t, tenantId))],
  );
  const held = new Set<string>();
  let files = 0;
  for (const { path } of rows) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      continue; // not readable here (or an empty relation never written: no file yet)
    }
    files++;
    for (const text of texts) if (bytes.includes(text)) held.add(text);
  }
  return files === 0 ? null : { held: [...held], files };
}

/**
 * For a describe block: a scratch schema made before its tests, with `clients` connected to it (the first is
 * `client`; `setup` runs on it first), ended and dropped after them. Call inside the block; read the
 * fields in tests.
 */
export function suiteSchema({ clients = 1, setup = '' } = {}): {
  client: pg.Client;
  clients: pg.Client[];
  /** one more client on the schema, for a test that ends it itself */
  connect: () => Promise<pg.Client>;
} {
  let schema: Awaited<ReturnType<typeof scratchSchema>> | undefined;
  const suite = {
    clients: [] as pg.Client[],
    connect: () => schema!.connect(),
  } as ReturnType<typeof suiteSchema>;
  beforeAll(async () => {
    schema = await scratchSchema();
    for (let i = 0; i < clients; i++) suite.clients.push(await schema.connect());
    suite.client = suite.clients[0]!;
    if (setup) await suite.client.query(setup);
  });
  afterAll(async () => {
    for (const c of suite.clients) await c.end();
    await schema?.drop();
  });
  return suite;
}
