/** What a storage failure means for the client, from its code (SQLite's, PostgreSQL's SQLSTATE or the OS's). */
export type StorageFault = 'disk_full' | 'damaged' | 'busy';

/**
 * PostgreSQL's SQLSTATEs that mean "not now" rather than "wrong": the connection lost or refused (the
 * server shutting down, restarting, dropping it), or contention (too many connections, a serialization
 * failure or deadlock, a lock not available). A retry after a moment can succeed, so the client is told so
 * (503 with Retry-After), and no tenant is marked damaged: the database is shared by every tenant.
 */
const POSTGRES_CONNECTION_LOST = /^(08\w{3}|57P0[1-3])$/;
const POSTGRES_CONTENDED = /^(53300|40001|40P01|55P03)$/;
const NETWORK_LOST = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);

const codeOf = (error: unknown): string | null => {
  const raw = (error as { code?: unknown } | null)?.code;
  return typeof raw === 'string' ? raw.toUpperCase() : null; // stream failures carry it lower-cased
};

/**
 * Whether the error means the connection itself is gone: the database closed, dropped or refused it. Such
 * a connection is not given back to a pool, and work that may run twice can run again on a fresh one.
 */
export function lostConnection(error: unknown): boolean {
  const code = codeOf(error);
  // node-postgres reports a connection the server closed under it by message only
  if (code === null)
    return /^Connection terminated/.test((error as { message?: unknown } | null)?.message as string);
  return POSTGRES_CONNECTION_LOST.test(code) || NETWORK_LOST.has(code);
}

/**
 * Runs `work`, and again while it fails on a connection PostgreSQL had dropped, at most `reruns` more
 * times. Each failed connection is discarded by its pool, and a restart drops all of a pool's idle ones at
 * once, so with as many reruns as the pool holds connections the last try gets a new one. Only for work that
 * may run twice (reads, idempotent writes).
 */
export async function rerunOnLostConnection<T>(reruns: number, work: () => Promise<T>): Promise<T> {
  for (let rerun = 0; ; rerun++) {
    try {
      return await work();
    } catch (error) {
      if (!lostConnection(error) || rerun >= reruns) throw error;
    }
  }
}

/** The disk that filled up is PostgreSQL's, not this server's (SQLSTATE 53100 disk_full). */
export function databaseDiskFull(error: unknown): boolean {
  return codeOf(error) === '53100';
}

export function storageFault(error: unknown): StorageFault | null {
  if (lostConnection(error)) return 'busy';
  const code = codeOf(error);
  if (code === null) return null;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'disk_full';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_IOERR'))
    return 'damaged';
  if (code === 'SQLITE_CANTOPEN') return 'damaged';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  // PostgreSQL: disk full (53100) is the client's 507 as on SQLite; contention is busy
  if (code === '53100') return 'disk_full';
  if (POSTGRES_CONTENDED.test(code)) return 'busy';
  return null;
}

/**
 * Throws `error` again when it is a storage fault (a full disk, a lost connection, contention): such a
 * failure is the whole request's (507 or 503), never one item's, where a batch answers per item.
 */
export function rethrowStorageFault(error: unknown): void {
  if (storageFault(error) !== null) throw error;
}
