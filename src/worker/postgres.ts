/**
 * A worker thread's own connections to PostgreSQL (issue 17), as it owns its SQLite connections: a small
 * pool opened on first use from the server's `--database-url`, closed with the thread.
 */
import { workerData } from 'node:worker_threads';
import type pg from 'pg';
import { createLogger } from '../obs/logger.js';
import type { WorkerData } from '../pool/pool.js';
import { loadPgDriver } from '../storage/postgres/driver.js';
import { lostConnection, rerunOnLostConnection } from '../storage/storage-fault.js';
import type { TaskContext } from './worker-context.js';

/** Connections one thread keeps at least. */
const PER_THREAD = 2;

/**
 * One per task the thread runs at once: a search or export stream holds its connection for its whole read
 * (one snapshot, src/storage/postgres/search-rows.ts), and a lane's writes one each. Opened on demand and
 * closed when idle (node-postgres' 10 s), so a quiet worker keeps none.
 */
function connectionsOfThisThread(): number {
  const data = workerData as WorkerData;
  return Math.max(PER_THREAD, data.tasksPerThread ?? 1);
}

let pool: Promise<pg.Pool> | null = null;
const log = createLogger((workerData as WorkerData).logLevel ?? 'info', { thread: 'worker' });

export function workerPostgres(): Promise<pg.Pool> {
  const url = (workerData as WorkerData).storage?.databaseUrl;
  if (!url) throw new Error('this server runs on SQLite: no PostgreSQL connection in the workers');
  pool ??= loadPgDriver().then(({ Pool }) => {
    const opened = new Pool({ connectionString: url, max: connectionsOfThisThread() });
    // an idle connection the server dropped (a restart, an administrator): the pool discards it and opens
    // another when asked; without a listener the 'error' event would end the thread
    opened.on('error', (error) => log.warn({ err: error }, 'an idle PostgreSQL connection failed'));
    return opened;
  });
  return pool;
}

/** Whether this server keeps tenant data in PostgreSQL. */
export function onPostgres(ctx: Pick<TaskContext, 'data'>): boolean {
  return ctx.data.storage?.kind === 'postgres';
}

/**
 * One of the thread's connections, held until `release`: given the error that ended its use, a connection
 * found lost goes, not back to the pool (its next user would fail too). For a read that outlives one call
 * (a stream holding its snapshot); `withPostgres` for the rest.
 */
export async function heldConnection(): Promise<{
  client: pg.PoolClient;
  release: (failure?: Error) => void;
}> {
  const client = await (await workerPostgres()).connect();
  return { client, release: (failure) => client.release(lostConnection(failure) ? failure : undefined) };
}

/**
 * Runs `work` on one of the thread's connections, timed as `query` (db_query_duration_seconds). A
 * connection found lost under it (PostgreSQL restarted or dropped it while it sat in the pool) is
 * discarded; with `rerunnable` (reads, and writes a rerun cannot apply twice: event ids, upserts) the work
 * runs once more on a fresh connection, so the first request after a restart does not fail.
 */
export async function withPostgres<T>(
  ctx: Pick<TaskContext, 'obs'>,
  query: string,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { rerunnable?: boolean } = {},
): Promise<T> {
  const started = performance.now();
  const once = async (): Promise<T> => {
    const { client, release } = await heldConnection();
    let failure: Error | undefined;
    try {
      return await work(client);
    } catch (error) {
      failure = error as Error;
      throw error;
    } finally {
      release(failure);
    }
  };
  try {
    return await (options.rerunnable ? rerunOnLostConnection(connectionsOfThisThread(), once) : once());
  } finally {
    ctx.obs.record('db_query_duration_seconds', { query }, (performance.now() - started) / 1000);
  }
}
