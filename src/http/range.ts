/**
 * Byte ranges for downloads (RFC 9110 §14). One range is served as 206; a header we do not serve (several
 * ranges, other units, nonsense) is ignored and the whole file sent, as the RFC allows; a well-formed
 * range that starts past the end is 416.
 */
export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

export function decideRange(
  header: string | undefined,
  size: number,
  options: { ifRange?: string; etag: string; lastModified?: string },
): RangeDecision {
  if (!header) return { kind: 'full' };
  // If-Range: serve the range only when the client's copy is this exact version (strong ETag or exact date).
  if (options.ifRange !== undefined) {
    const v = options.ifRange.trim();
    const fresh = v.startsWith('"') ? v === options.etag : v === options.lastModified;
    if (!fresh) return { kind: 'full' };
  }
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return { kind: 'full' };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    if (size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (Number.isSafeInteger(start) && start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: 'full' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}

/** Whether an If-None-Match header names this version (weak comparison, `*` matches anything). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .includes(etag);
}
