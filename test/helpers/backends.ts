import type pg from 'pg';
import { postgresUnavailable, scratchSchema } from './postgres.js';

/**
 * The storage backends an integration suite runs on (issue 17: the suite per backend): SQLite always,
 * PostgreSQL where a server answers (a schema of its own per suite, dropped after; skipped with the reason
 * where none answers).
 */
export interface ServerBackend {
  name: 'sqlite' | 'postgres';
  /** why the backend is not tested here, or null */
  skip: string | null;
  /** The server flags for this backend, a look at its tables (PostgreSQL only), and the cleanup. */
  prepare(): Promise<PreparedBackend>;
}

export interface PreparedBackend {
  args: string[];
  /** rows of a query on the backend's database (PostgreSQL; on SQLite the suite reads the shard files) */
  query?: <T extends Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;
  cleanup(): Promise<void>;
}

const pgUnavailable = await postgresUnavailable();

export const SERVER_BACKENDS: ServerBackend[] = [
  { name: 'sqlite', skip: null, prepare: async () => ({ args: [], cleanup: async () => {} }) },
  {
    name: 'postgres',
    skip: pgUnavailable,
    async prepare() {
      const schema = await scratchSchema();
      let client: pg.Client | null = null;
      return {
        args: ['--storage', 'postgres', '--database-url', schema.url],
        async query<T extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
          client ??= await schema.connect();
          return (await client.query<T>(sql, params)).rows;
        },
        async cleanup() {
          await client?.end();
          await schema.drop();
        },
      };
    },
  },
];
