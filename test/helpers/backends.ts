import { existsSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import { shardPath } from '../../src/storage/shards.js';
import { countRows } from './data.js';
import { postgresUnavailable, relationFilesHold, scratchSchema } from './postgres.js';

/** The tables whose rows may quote a customer's PII (an erasure rewrites them), by backend below. */
const PII_TABLES = ['customers', 'idempotency_keys', 'upload_errors'] as const;

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
  /**
   * Which of `texts` the bytes the backend stored for the tenant hold: its shard's file and WAL (SQLite),
   * or the files of its partitions of the tables that may quote PII, with their TOAST and indexes
   * (PostgreSQL, after a CHECKPOINT); null where those files cannot be read here.
   */
  storedBytesHold(dataDir: string, tenantId: number, texts: readonly string[]): Promise<string[] | null>;
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
      async storedBytesHold(dataDir, tenantId, texts) {
        const base = shardPath(dataDir, tenantId);
        const files = [base, `${base}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
        return texts.filter((t) => files.some((bytes) => bytes.includes(t)));
      },
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
        async storedBytesHold(_dataDir, tenantId, texts) {
          client ??= await schema.connect();
          return (await relationFilesHold(client, PII_TABLES, tenantId, texts))?.held ?? null;
        },
        async cleanup() {
          await client?.end();
          await schema.drop();
        },
      };
    },
  },
];
