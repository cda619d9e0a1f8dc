import { constants, crc32, deflateRawSync } from 'node:zlib';

/**
 * One gzip member (RFC 1952) made of parts deflated separately, in parallel, the way pigz does it: each
 * part is raw deflate ending with a sync flush (byte-aligned, not final), so the parts' bytes laid end to
 * end are one deflate stream; one header opens it; an empty final block, the CRC-32 of all the data
 * (combined from the parts' CRCs) and its length close it. Content-Encoding: gzip needs one member:
 * curl and browsers stop after the first.
 */

/** The 10-byte header: deflate, no name, no time, unknown OS. */
export const GZIP_HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);

/** The level of gzip added on the fly: the fastest, as nginx's default `gzip_comp_level 1`. */
export const TRANSFER_GZIP_LEVEL = 1;

/** One part's data as raw deflate ending with a sync flush, and what the closing needs to know of it. */
export function deflatePart(data: Uint8Array): { bytes: Uint8Array; crc: number; length: number } {
  const bytes = deflateRawSync(data, { level: TRANSFER_GZIP_LEVEL, finishFlush: constants.Z_SYNC_FLUSH });
  return { bytes, crc: crc32(data), length: data.length };
}

/** The running CRC-32 and length of the data deflated so far, part after part. */
export interface GzipSum {
  crc: number;
  length: number;
}

export const EMPTY_SUM: GzipSum = { crc: 0, length: 0 };

/** The sum of `a`'s data followed by `b`'s. */
export function appendSum(a: GzipSum, b: GzipSum): GzipSum {
  return { crc: crc32Combine(a.crc, b.crc, b.length), length: a.length + b.length };
}

/** The closing bytes: an empty final block (fixed Huffman), then CRC-32 and length mod 2^32, little-endian. */
export function gzipClosing(sum: GzipSum): Uint8Array {
  const out = new Uint8Array(10);
  out[0] = 0x03;
  out[1] = 0x00;
  const view = new DataView(out.buffer);
  view.setUint32(2, sum.crc >>> 0, true);
  view.setUint32(6, sum.length % 2 ** 32, true);
  return out;
}

/**
 * CRC-32 of A then B from crc(A), crc(B) and len(B), without the data (zlib's crc32_combine, which Node
 * does not expose): appending len(B) zero bits to A is a linear map over GF(2), applied by squaring.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320; // the CRC-32 polynomial: the operator for one zero bit
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row;
  square(even, odd); // two zero bits
  square(odd, even); // four
  let crc = crcA >>> 0;
  let left = lengthB; // bytes: each step below squares to the next power of two bytes
  for (;;) {
    square(even, odd);
    if (left % 2) crc = times(even, crc);
    left = Math.floor(left / 2);
    if (left === 0) break;
    square(odd, even);
    if (left % 2) crc = times(odd, crc);
    left = Math.floor(left / 2);
    if (left === 0) break;
  }
  return (crc ^ crcB) >>> 0;
}

function times(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let i = 0, v = vector >>> 0; v !== 0; i++, v >>>= 1) if (v & 1) sum ^= matrix[i]!;
  return sum >>> 0;
}

function square(out: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < 32; n++) out[n] = times(matrix, matrix[n]!);
}
