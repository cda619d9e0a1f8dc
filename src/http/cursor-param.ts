import { decodeCursor, type Keyset } from '../domain/cursor.js';
import { Problem } from './problem.js';

/**
 * Where a listing continues from: the position its `cursor` parameter carries, or null without one. A
 * cursor that was altered, issued by another server or for another query is its 400 problem
 * (invalid_cursor, cursor_mismatch).
 */
export function cursorPosition<P>(
  secret: string,
  token: string | undefined,
  tenantId: number,
  fingerprint: string,
  keyset: Keyset<P>,
): P | null {
  if (token === undefined) return null;
  const decoded = decodeCursor(secret, token, tenantId, fingerprint, keyset);
  if (!decoded.ok) throw new Problem(decoded.code, decoded.detail);
  return decoded.position;
}
