import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeCursor,
  EXPORT_JOB_KEYSET,
  encodeCursor,
  ORDER_KEYSET,
  PRICE_EVENT_KEYSET,
} from '../../src/domain/cursor.js';

const SECRET = 'test-secret';

describe('cursors', () => {
  it('round-trip each listing’s position through its own keyset', () => {
    const order = { createdAt: 1_700_000_000_000, orderPk: 42 };
    const token = encodeCursor(SECRET, 1, 'fp', ORDER_KEYSET, order);
    expect(decodeCursor(SECRET, token, 1, 'fp', ORDER_KEYSET)).toEqual({ ok: true, position: order });
    const seq = encodeCursor(SECRET, 1, 'fp', PRICE_EVENT_KEYSET, 977);
    expect(decodeCursor(SECRET, seq, 1, 'fp', PRICE_EVENT_KEYSET)).toEqual({ ok: true, position: 977 });
    const job = encodeCursor(SECRET, 1, 'fp', EXPORT_JOB_KEYSET, 1_700_000_000_123);
    expect(decodeCursor(SECRET, job, 1, 'fp', EXPORT_JOB_KEYSET)).toEqual({
      ok: true,
      position: 1_700_000_000_123,
    });
  });

  it('read the tokens issued before the keysets had names (price events carried the seq second)', () => {
    const payload = Buffer.from(JSON.stringify({ v: 1, t: 3, f: 'fp', k: [0, 55] })).toString('base64url');
    const mac = createHmac('sha256', SECRET).update(payload).digest().subarray(0, 16).toString('base64url');
    expect(decodeCursor(SECRET, `${payload}.${mac}`, 3, 'fp', PRICE_EVENT_KEYSET)).toEqual({
      ok: true,
      position: 55,
    });
  });

  it('refuse altered, foreign and malformed tokens with stable codes', () => {
    const token = encodeCursor(SECRET, 1, 'fp', ORDER_KEYSET, { createdAt: 1, orderPk: 2 });
    const [payload, mac] = token.split('.') as [string, string];
    const altered = `${Buffer.from(JSON.stringify({ v: 1, t: 1, f: 'fp', k: [1, 3] })).toString('base64url')}.${mac}`;
    expect(decodeCursor(SECRET, altered, 1, 'fp', ORDER_KEYSET)).toMatchObject({
      ok: false,
      code: 'invalid_cursor',
    });
    expect(decodeCursor('other', token, 1, 'fp', ORDER_KEYSET)).toMatchObject({ code: 'invalid_cursor' });
    expect(decodeCursor(SECRET, token, 2, 'fp', ORDER_KEYSET)).toMatchObject({ code: 'cursor_mismatch' });
    expect(decodeCursor(SECRET, token, 1, 'other', ORDER_KEYSET)).toMatchObject({ code: 'cursor_mismatch' });
    expect(decodeCursor(SECRET, `${payload}`, 1, 'fp', ORDER_KEYSET)).toMatchObject({
      code: 'invalid_cursor',
    });
    const noKey = Buffer.from(JSON.stringify({ v: 1, t: 1, f: 'fp', k: 'x' })).toString('base64url');
    const signed = `${noKey}.${createHmac('sha256', SECRET).update(noKey).digest().subarray(0, 16).toString('base64url')}`;
    expect(decodeCursor(SECRET, signed, 1, 'fp', ORDER_KEYSET)).toMatchObject({ code: 'invalid_cursor' });
  });
});
