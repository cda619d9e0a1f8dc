/**
 * The tus 1.0.0 protocol as our uploads speak it: version and extensions, its headers (Upload-Offset,
 * Upload-Length, Upload-Metadata, Upload-Expires) and its problems, which carry Tus-Resumable.
 */
import type { Context } from 'hono';
import { Problem } from '../http/problem.js';
import type { ProblemCode } from '../http/problem-catalog.js';
import type { UploadRow } from '../storage/upload-store.js';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = 'creation,creation-defer-length,termination,expiration';
export const UPLOAD_ID = /^upl_[A-Za-z0-9_-]{16}$/;

/** Upload-Metadata: comma-separated `key base64(value)` pairs (the value may be absent). */
export function parseUploadMetadata(header: string | undefined): Record<string, string> | null {
  const out: Record<string, string> = {};
  if (!header?.trim()) return out;
  for (const pair of header.split(',')) {
    const [key, value, extra] = pair.trim().split(' ');
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/.test(key)) return null;
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return null;
    out[key] = value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

/** The creation's metadata (stored as JSON), echoed by HEAD as tus asks. */
function uploadMetadataHeader(stored: string): Record<string, string> {
  const entries = Object.entries(JSON.parse(stored) as Record<string, string>);
  if (entries.length === 0) return {};
  return {
    'Upload-Metadata': entries
      .map(([k, value]) => (value === '' ? k : `${k} ${Buffer.from(value).toString('base64')}`))
      .join(','),
  };
}

/** A problem that a tus client can read: it carries Tus-Resumable. */
export function tusProblem(code: ProblemCode, detail: string, headers = {}): Problem {
  return new Problem(code, detail, { headers: { 'Tus-Resumable': TUS_VERSION, ...headers } });
}

/** A tus header's byte count (Upload-Offset, Upload-Length), or null when it is not one. */
export function byteCountHeader(raw: string | undefined): number | null {
  return raw !== undefined && /^\d{1,16}$/.test(raw) ? Number(raw) : null;
}

/** Refuses a request that does not speak our tus version (412, with the versions we do). */
export function requireTus(c: Context): void {
  if (c.req.header('tus-resumable') !== TUS_VERSION)
    throw tusProblem('tus_version_unsupported', `Send Tus-Resumable: ${TUS_VERSION}.`, {
      'Tus-Version': TUS_VERSION,
    });
}

/** The upload's state in tus headers: where it stands (`received`), its length or deferral, expiry, metadata. */
export function tusHeaders(row: UploadRow, received: number): Record<string, string> {
  return {
    'Tus-Resumable': TUS_VERSION,
    'Upload-Offset': String(received),
    ...(row.upload_length === null
      ? { 'Upload-Defer-Length': '1' }
      : { 'Upload-Length': String(row.upload_length) }),
    ...(row.state === 'receiving' ? { 'Upload-Expires': new Date(row.expires_at).toUTCString() } : {}),
    ...uploadMetadataHeader(row.metadata),
    'Cache-Control': 'no-store',
  };
}
