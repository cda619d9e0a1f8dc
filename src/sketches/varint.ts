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

/** Room before a spliced list's body for its header (the version byte and a count of up to 2^53). */
const HEADER_ROOM = 9;

/**
 * `added` (ascending) merged into an encoded sorted list without decoding it: the stored bytes are copied
 * as they are between the places a value goes in, where the one stored value after it is written again
 * (its difference now from the value put before it). With `unique`, a value the list holds already is left
 * out (`added` itself must then hold no repeats). A few values into a list of tens of thousands cost one
 * pass over its bytes, where decoding, merging and encoding it again cost three, and two arrays of eight
 * bytes a value.
 */
export function mergeIntoSortedList(
  bytes: Uint8Array,
  added: ArrayLike<number>,
  unique: boolean,
): Uint8Array {
  if (bytes[0] !== SORTED_LIST_VERSION) throw new Error(`unsupported sorted-list encoding ${bytes[0]}`);
  const [count, first] = readVarint(bytes, 1);
  const out = new Uint8Array(HEADER_ROOM + bytes.length + added.length * 8);
  let o = HEADER_ROOM;
  let at = first;
  let copyFrom = first;
  let value = 0; // the stored value before `at`
  let total = count;
  let j = 0;
  const put = (x: number, after: number) => {
    if (!(x >= after) || !Number.isSafeInteger(x)) throw new Error(`sorted list: ${x} after ${after}`);
    o = writeVarint(out, o, x - after);
    total++;
  };
  for (let i = 0; i < count && j < added.length; i++) {
    const start = at;
    let v: number;
    const b = bytes[at]!;
    if (b < 0x80) {
      v = value + b;
      at++;
    } else {
      const [delta, next] = readVarint(bytes, at);
      v = value + delta;
      at = next;
    }
    if (added[j]! < v || (!unique && added[j] === v)) {
      out.set(bytes.subarray(copyFrom, start), o);
      o += start - copyFrom;
      let written = value;
      while (j < added.length && (added[j]! < v || (!unique && added[j] === v))) {
        put(added[j]!, written);
        written = added[j++]!;
      }
      o = writeVarint(out, o, v - written);
      copyFrom = at;
    }
    while (unique && j < added.length && added[j] === v) j++;
    value = v;
  }
  out.set(bytes.subarray(copyFrom), o);
  o += bytes.length - copyFrom;
  // past the stored values (`value` is the last of them here, since values are left only when all were read)
  for (let written = value; j < added.length; j++) {
    if (unique && added[j] === written && total > 0) continue;
    put(added[j]!, written);
    written = added[j]!;
  }
  const header = new Uint8Array(HEADER_ROOM);
  header[0] = SORTED_LIST_VERSION;
  const headerLength = writeVarint(header, 1, total);
  out.set(header.subarray(0, headerLength), HEADER_ROOM - headerLength);
  return out.slice(HEADER_ROOM - headerLength, o);
}

/** How many values an encoded sorted list holds (its header alone). */
export function sortedListLength(bytes: Uint8Array): number {
  if (bytes[0] !== SORTED_LIST_VERSION) throw new Error(`unsupported sorted-list encoding ${bytes[0]}`);
  return readVarint(bytes, 1)[0];
}
