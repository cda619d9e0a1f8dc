/**
 * A worker thread's own connections to PostgreSQL (issue 17), as it owns its SQLite connections: a small
 * pool opened on first use from the server's `--database-url`, closed with the thread.
 */
import { workerData } from 'node:worker_threads';
import pg from 'pg';
import { createLogger } from '../obs/logger.js';
import type { WorkerData } from '../pool/pool.js';

/** Connections one thread keeps: a writer lane needs one; a pool worker's concurrent tasks may take two. */
const PER_THREAD = 2;

let pool: pg.Pool | null = null;
const log = createLogger((workerData as WorkerData).logLevel ?? 'info', { thread: 'worker' });

export function workerPostgres(): pg.Pool {
  const url = (workerData as WorkerData).storage?.databaseUrl;
  if (!url) throw new Error('this server runs on SQLite: no PostgreSQL connection in the workers');
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: PER_THREAD });
    // an idle connection the server dropped (a restart, an administrator): the pool discards it and opens
    // another when asked; without a listener the 'error' event would end the thread
    pool.on('error', (error) => log.warn({ err: error }, 'an idle PostgreSQL connection failed'));
  }
  return pool;
}
