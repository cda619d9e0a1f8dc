import { openDatabase } from './sqlite.js';

/** What a shard check found (PRAGMA quick_check or integrity_check, or the error that stopped it). */
export interface ShardCheck {
  ok: boolean;
  /** "ok", or what is wrong: SQLite's messages, at most 100 */
  messages: string[];
  mode: 'quick' | 'full';
  ms: number;
  /** set when the check could not run at all (PostgreSQL without amcheck): it says nothing about the data */
  unavailable?: string;
}

/**
 * Checks a shard file on a connection of its own (read-only), so a damaged file is looked at fresh:
 * quick_check (O(N), no index cross-check) or integrity_check (everything). A file that cannot even be
 * read as a database is a failed check, not an exception.
 */
export function checkShardFile(path: string, mode: 'quick' | 'full'): ShardCheck {
  const started = performance.now();
  let messages: string[];
  try {
    const db = openDatabase(path, { readonly: true });
    try {
      const pragma = mode === 'quick' ? 'quick_check(100)' : 'integrity_check(100)';
      messages = (db.pragma(pragma) as Record<string, string>[]).map((r) => String(Object.values(r)[0]));
    } finally {
      db.close();
    }
  } catch (error) {
    messages = [`${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`];
  }
  const ok = messages.length === 1 && messages[0] === 'ok';
  return { ok, messages, mode, ms: Math.round(performance.now() - started) };
}
