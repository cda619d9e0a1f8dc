import { randomBytes } from 'node:crypto';
import { crc32, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  appendSum,
  crc32Combine,
  deflatePart,
  EMPTY_SUM,
  GZIP_HEADER,
  gzipClosing,
} from '../../src/formats/gzip-parts.js';

describe('one gzip member from parts deflated apart', () => {
  it('combines CRC-32s as if computed over the joined data', () => {
    for (const [a, b] of [
      [randomBytes(1000), randomBytes(3)],
      [randomBytes(0), randomBytes(77)],
      [randomBytes(5), randomBytes(0)],
      [randomBytes(70_000), randomBytes(123_457)],
    ] as const)
      expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
  });

  it('parts laid end to end between one header and one closing are a single member gunzip reads whole', () => {
    const parts = [
      Buffer.from('order_id,total\r\n'),
      Buffer.from('a,1\r\n'.repeat(5000)),
      Buffer.alloc(0),
      randomBytes(40_000), // incompressible too
      Buffer.from('z,9\r\n'),
    ];
    let sum = EMPTY_SUM;
    const pieces: Uint8Array[] = [GZIP_HEADER];
    for (const part of parts) {
      const deflated = deflatePart(part);
      pieces.push(deflated.bytes);
      sum = appendSum(sum, deflated);
    }
    pieces.push(gzipClosing(sum));
    const member = Buffer.concat(pieces);
    expect(gunzipSync(member).equals(Buffer.concat(parts))).toBe(true);
    // one member: nothing after the closing (a reader that stops after the first member loses nothing)
    expect(member.subarray(member.length - 8).readUInt32LE(0)).toBe(crc32(Buffer.concat(parts)));
  });
});
