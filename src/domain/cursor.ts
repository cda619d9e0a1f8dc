import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Opaque keyset cursors: base64url(JSON payload) "." base64url(HMAC-SHA256(secret, payload))[:16 bytes].
 * The payload holds a version, the tenant, a fingerprint of the filters and fields, and the sort key of
 * the last row served. The MAC makes any edit detectable; tenant and fingerprint make a token useless
 * for another tenant or another query.
 */
export const CURSOR_VERSION = 1;

/** Where an order listing (search, exports) stands: newest first by (created_at, order pk). */
export interface OrderPosition {
  createdAt: number;
  orderPk: number;
}

/** The pair of numbers a cursor carries: the last row's sort key and its tiebreak, as each listing lays them out. */
export type CursorKey = readonly [number, number];

/** How one listing's position becomes a cursor's key pair and back. */
export interface Keyset<P> {
  toKey(position: P): CursorKey;
  fromKey(key: CursorKey): P;
}

/** Orders: [created_at, order_pk]. */
export const ORDER_KEYSET: Keyset<OrderPosition> = {
  toKey: (p) => [p.createdAt, p.orderPk],
  fromKey: ([createdAt, orderPk]) => ({ createdAt, orderPk }),
};

/** A product's price anomalies, by sequence: [0, seq] (the layout their cursors have always had). */
export const PRICE_EVENT_KEYSET: Keyset<number> = {
  toKey: (seq) => [0, seq],
  fromKey: ([, seq]) => seq,
};

/** Export jobs, newest first by creation time: [created_at, 0]. */
export const EXPORT_JOB_KEYSET: Keyset<number> = {
  toKey: (createdAt) => [createdAt, 0],
  fromKey: ([createdAt]) => createdAt,
};

interface Payload {
  v: number;
  t: number;
  f: string;
  k: [number, number];
}

export type CursorResult<P> =
  | { ok: true; position: P }
  | { ok: false; code: 'invalid_cursor' | 'cursor_mismatch'; detail: string };

function mac(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest().subarray(0, 16);
}

export function encodeCursor<P>(
  secret: string,
  tenantId: number,
  fingerprint: string,
  keyset: Keyset<P>,
  position: P,
): string {
  const payload = Buffer.from(
    JSON.stringify({
      v: CURSOR_VERSION,
      t: tenantId,
      f: fingerprint,
      k: [...keyset.toKey(position)],
    } satisfies Payload),
  ).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

export function decodeCursor<P>(
  secret: string,
  token: string,
  tenantId: number,
  fingerprint: string,
  keyset: Keyset<P>,
): CursorResult<P> {
  const invalid = (detail: string): CursorResult<P> => ({ ok: false, code: 'invalid_cursor', detail });
  if (token.length > 512) return invalid('The cursor is too long.');
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return invalid('The cursor is malformed.');
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(secret, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return invalid('The cursor was not issued by this server or was altered.');
  }
  let data: Payload;
  try {
    data = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Payload;
  } catch {
    return invalid('The cursor is malformed.');
  }
  if (data.v !== CURSOR_VERSION) return invalid('The cursor is from another version; restart the listing.');
  if (data.t !== tenantId || data.f !== fingerprint) {
    return {
      ok: false,
      code: 'cursor_mismatch',
      detail: 'The cursor belongs to another query (filters or fields differ).',
    };
  }
  const [sortKey, tiebreak] = Array.isArray(data.k) ? data.k : [];
  if (!Number.isSafeInteger(sortKey) || !Number.isSafeInteger(tiebreak))
    return invalid('The cursor is malformed.');
  return { ok: true, position: keyset.fromKey([sortKey as number, tiebreak as number]) };
}

/** A stable digest of what defines a listing (filters and fields; not the page size or format). */
export function queryFingerprint(parts: Record<string, unknown>): string {
  const canonical = JSON.stringify(
    Object.keys(parts)
      .sort()
      .map((k) => [k, parts[k]]),
  );
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}
