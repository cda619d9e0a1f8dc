/**
 * What the columnar BLOBs (line blocks, a journal block's order columns) share: a header of u8 version,
 * u8 id width (4 or 8 bytes), u16 0, u32 orders, then typed-array columns laid one after another, each a
 * view of the stored bytes in the platform's byte order (little-endian on every machine Node supports).
 */

/** The largest id a 4-byte id column holds; past it a BLOB's ids are f64. */
export const INT32_MAX = 2 ** 31 - 1;

/**
 * The bytes to encode `size` bytes into: the start of `into` (8-byte aligned) when it is large enough, its
 * header zeroed, else a new array; the header's version, id width and order count written.
 */
export function encodingBytes(
  size: number,
  header: { bytes: number; version: number; idBytes: number; orders: number },
  into?: Uint8Array,
): { bytes: Uint8Array; header: DataView } {
  const bytes =
    into && into.byteLength >= size ? into.subarray(0, size).fill(0, 0, header.bytes) : new Uint8Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, header.bytes);
  view.setUint8(0, header.version);
  view.setUint8(1, header.idBytes);
  view.setUint32(4, header.orders, true);
  return { bytes, header: view };
}

/** Stored bytes (copied first if not 8-byte aligned) and their header, its version and id width checked. */
export function decodingBytes(
  stored: Uint8Array,
  header: { bytes: number; version: number; what: string },
): { bytes: Uint8Array; header: DataView; idBytes: 4 | 8 } {
  const bytes = stored.byteOffset % 8 === 0 ? stored : new Uint8Array(stored);
  const view = new DataView(bytes.buffer, bytes.byteOffset, header.bytes);
  const version = view.getUint8(0);
  const idBytes = view.getUint8(1);
  if (version !== header.version || (idBytes !== 4 && idBytes !== 8))
    throw new Error(`unsupported ${header.what} (version ${version}, id width ${idBytes})`);
  return { bytes, header: view, idBytes };
}

/** Views of consecutive columns of `bytes`, past its header. */
export class ColumnViews {
  private at: number;

  constructor(
    private readonly bytes: Uint8Array,
    headerBytes: number,
  ) {
    this.at = bytes.byteOffset + headerBytes;
  }

  f64(count: number): Float64Array {
    const a = new Float64Array(this.bytes.buffer, this.at, count);
    this.at += 8 * count;
    return a;
  }

  i32(count: number): Int32Array {
    const a = new Int32Array(this.bytes.buffer, this.at, count);
    this.at += 4 * count;
    return a;
  }

  /** Ids: i32, or f64 where one exceeds 2^31 - 1. */
  ids(count: number, idBytes: number): Int32Array | Float64Array {
    return idBytes === 8 ? this.f64(count) : this.i32(count);
  }

  u8(count: number): Uint8Array {
    const a = new Uint8Array(this.bytes.buffer, this.at, count);
    this.at += count;
    return a;
  }
}
