/**
 * A worker thread's own connections to PostgreSQL (issue 17), as it owns its SQLite connections: a small
 * pool opened on first use from the server's `--database-url`, closed with the thread.
 */
import { workerData } from 'node:worker_threads';
import pg from 'pg';
import type { WorkerData } from '../pool/pool.js';

/** Connections one thread keeps: a writer lane needs one; a pool worker's concurrent tasks may take two. */
const PER_THREAD = 2;

let pool: pg.Pool | null = null;

export function workerPostgres(): pg.Pool {
  const url = (workerData as WorkerData).storage?.databaseUrl;
  if (!url) throw new Error('this server runs on SQLite: no PostgreSQL connection in the workers');
  pool ??= new pg.Pool({ connectionString: url, max: PER_THREAD });
  return pool;
}
