/** What a storage failure means for the client, from its code (SQLite's, PostgreSQL's SQLSTATE or the OS's). */
export type StorageFault = 'disk_full' | 'damaged' | 'busy';

/**
 * PostgreSQL's SQLSTATEs that mean "not now" rather than "wrong": the server shutting down or not accepting
 * connections, a lost connection, too many connections, a serialization failure or deadlock, a lock not
 * available. A retry after a moment can succeed, so the client is told so (503 with Retry-After), and no
 * tenant is marked damaged: the database is shared by every tenant.
 */
const POSTGRES_RETRYABLE = /^(08\w{3}|57P0[1-3]|53300|40001|40P01|55P03)$/;
const NETWORK_RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);

export function storageFault(error: unknown): StorageFault | null {
  const raw = (error as { code?: unknown } | null)?.code;
  // node-postgres reports a connection the server closed under it by message only
  if (typeof raw !== 'string')
    return /^Connection terminated/.test((error as { message?: unknown } | null)?.message as string)
      ? 'busy'
      : null;
  const code = raw.toUpperCase(); // stream failures carry it lower-cased
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'disk_full';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_IOERR'))
    return 'damaged';
  if (code === 'SQLITE_CANTOPEN') return 'damaged';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  // PostgreSQL: disk full (53100) is the client's 507 as on SQLite; the retryable ones are busy
  if (code === '53100') return 'disk_full';
  if (POSTGRES_RETRYABLE.test(code) || NETWORK_RETRYABLE.has(code)) return 'busy';
  return null;
}
