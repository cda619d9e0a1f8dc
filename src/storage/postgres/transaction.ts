import type { ClientBase } from 'pg';

/**
 * Runs `work` in a transaction of its own on the client: committed if it returns, rolled back if it throws.
 * READ COMMITTED unless asked (REPEATABLE READ: every statement sees the snapshot of the first).
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
    await client.query('ROLLBACK');
    throw error;
  }
}
