import type pg from 'pg';
import { countRows } from './data.js';
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
  /** The rows of one of a tenant's tables: its shard's (in `dataDir`) or its PostgreSQL partition's. */
  rowCount(dataDir: string, tenantId: number, table: string): Promise<number>;
  cleanup(): Promise<void>;
}

const pgUnavailable = await postgresUnavailable();

export const SERVER_BACKENDS: ServerBackend[] = [
  {
    name: 'sqlite',
    skip: null,
    prepare: async () => ({
      args: [],
      rowCount: async (dataDir, tenantId, table) => countRows(dataDir, tenantId, table),
      cleanup: async () => {},
    }),
  },
  {
    name: 'postgres',
    skip: pgUnavailable,
    async prepare() {
      const schema = await scratchSchema();
      let client: pg.Client | null = null;
      async function query<T extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
        client ??= await schema.connect();
        return (await client.query<T>(sql, params)).rows;
      }
      return {
        args: ['--storage', 'postgres', '--database-url', schema.url],
        query,
        async rowCount(_dataDir, tenantId, table) {
          const rows = await query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`,
            [tenantId],
          );
          return rows[0]!.n;
        },
        async cleanup() {
          await client?.end();
          await schema.drop();
        },
      };
    },
  },
];
