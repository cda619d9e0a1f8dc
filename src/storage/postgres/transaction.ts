import type { ClientBase } from 'pg';

/**
 * Runs `work` in a transaction of its own on the client: committed if it returns, rolled back if it throws.
 * READ COMMITTED unless asked (REPEATABLE READ: every statement sees the snapshot of the first).
 * When the work fails its error is what the caller gets, even if the ROLLBACK fails too: a ROLLBACK fails
 * only on a connection that is gone, where PostgreSQL has rolled back already and the pool discards the
 * connection; the rollback's error ("Connection terminated") would hide what went wrong.
 */
export async function inTransaction<T>(
  client: ClientBase,
  work: () => Promise<T>,
  isolation: 'read committed' | 'repeatable read' = 'read committed',
): Promise<T> {
  await client.query(isolation === 'read committed' ? 'BEGIN' : 'BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
