/**
 * A schema of its own in a PostgreSQL database, for one test file or one benchmark run: created here,
 * dropped by `drop`, and a connection string whose connections use it (`search_path`), so runs share the
 * server without seeing each other's tables.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ScratchSchema {
  name: string;
  /** `url` with the schema as its search_path */
  url: string;
  drop(): Promise<void>;
}

async function onAdmin(url: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

export async function createScratchSchema(url: string, prefix: string): Promise<ScratchSchema> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await onAdmin(url, `CREATE SCHEMA ${name}`);
  const schemaUrl = new URL(url);
  schemaUrl.searchParams.set('options', `-c search_path=${name}`);
  return { name, url: schemaUrl.toString(), drop: () => onAdmin(url, `DROP SCHEMA ${name} CASCADE`) };
}
