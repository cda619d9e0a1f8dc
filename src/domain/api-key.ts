import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `of_<lookup>_<secret>`: the lookup id finds the row, the secret is checked against
 * its sha256. Secrets carry 192 random bits, so a fast hash is enough (no password stretching needed).
 */
const PREFIX = 'of';
const KEY_PATTERN = /^of_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{32})$/;

export interface ParsedKey {
  lookupId: string;
  secret: string;
}

export interface NewKey extends ParsedKey {
  apiKey: string;
  secretHash: Buffer;
}

export function generateApiKey(): NewKey {
  const lookupId = randomBytes(12)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .padEnd(12, 'x')
    .slice(0, 12);
  const secret = randomBytes(24).toString('base64url');
  return { apiKey: `${PREFIX}_${lookupId}_${secret}`, lookupId, secret, secretHash: hashSecret(secret) };
}

export function parseApiKey(apiKey: string): ParsedKey | null {
  const m = KEY_PATTERN.exec(apiKey);
  return m ? { lookupId: m[1]!, secret: m[2]! } : null;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return candidate.length === storedHash.length && timingSafeEqual(candidate, storedHash);
}

/** Constant-time comparison for the admin token (different lengths still take a full compare). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
