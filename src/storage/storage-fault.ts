/** What a storage failure means for the client, from its code (SQLite's or the OS's). */
export type StorageFault = 'disk_full' | 'damaged' | 'busy';

export function storageFault(error: unknown): StorageFault | null {
  const raw = (error as { code?: unknown } | null)?.code;
  if (typeof raw !== 'string') return null;
  const code = raw.toUpperCase(); // stream failures carry it lower-cased
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'disk_full';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_IOERR'))
    return 'damaged';
  if (code === 'SQLITE_CANTOPEN') return 'damaged';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  return null;
}
