/**
 * Unsigned LEB128 varints for non-negative integers up to 2^53 (arithmetic, not 32-bit bitwise, so
 * money in cents fits), and a sorted-list codec built on them: a version byte, the count, then each
 * value as its difference from the one before (first from 0). Sorted lists of nearby integers
 * (customer ids, order values) take one or two bytes per value.
 */
const SORTED_LIST_VERSION = 1;

export function writeVarint(out: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

/** The value at `at` and the offset after it. */
export function readVarint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = bytes[at++];
    if (b === undefined) throw new Error('truncated varint');
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, at];
    scale *= 0x80;
  }
}

/** Encodes ascending non-negative integers (repeats allowed). */
export function encodeSortedList(sorted: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(1 + 8 + sorted.length * 8);
  out[0] = SORTED_LIST_VERSION;
  let at = writeVarint(out, 1, sorted.length);
  let previous = 0;
  for (let i = 0; i < sorted.length; i++) {
    const value = sorted[i]!;
    if (!(value >= previous) || !Number.isSafeInteger(value))
      throw new Error(`sorted list: ${value} after ${previous}`);
    at = writeVarint(out, at, value - previous);
    previous = value;
  }
  return out.slice(0, at);
}

/** Decodes what encodeSortedList wrote, ascending. */
export function decodeSortedList(bytes: Uint8Array): Float64Array {
  if (bytes[0] !== SORTED_LIST_VERSION) throw new Error(`unsupported sorted-list encoding ${bytes[0]}`);
  const [count, first] = readVarint(bytes, 1);
  const out = new Float64Array(count);
  let at = first;
  let value = 0;
  for (let i = 0; i < count; i++) {
    // one-byte deltas inline (the common case); longer ones through readVarint
    const b = bytes[at];
    if (b !== undefined && b < 0x80) {
      value += b;
      at++;
    } else {
      const [delta, next] = readVarint(bytes, at);
      value += delta;
      at = next;
    }
    out[i] = value;
  }
  return out;
}
