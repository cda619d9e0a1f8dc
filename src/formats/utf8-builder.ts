/**
 * Text gathered as UTF-8 bytes, piece by piece, in one buffer kept across uses; `take()` hands out the
 * bytes written as an owned copy (its own ArrayBuffer, so it can be transferred to another thread) and
 * starts over.
 *
 * Why not `new TextEncoder().encode(pieces.join(''))`: the join builds one large string (past ~128 KB V8
 * gives it fresh pages of its own), and Node 20's `encode` walks it once more to count its bytes before
 * allocating the result. Encoding each piece into memory that is already ours does neither: 2,000 orders'
 * records (303 KB) 2.8 → 1.0 ms, a 160 KB metrics answer 1.5 → ~1.1 ms (docs/perf.md, "UTF-8 without the
 * big string").
 */
const encoder = new TextEncoder();

export class Utf8Builder {
  private buffer: Uint8Array;
  private written = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = new Uint8Array(initialBytes);
  }

  /** Bytes written since the last take. */
  get byteLength(): number {
    return this.written;
  }

  append(text: string): void {
    let rest = text;
    for (;;) {
      const { read, written } = encoder.encodeInto(rest, this.buffer.subarray(this.written));
      this.written += written;
      if (read === rest.length) return;
      // encodeInto stops before a character that does not fit, never inside a surrogate pair
      rest = rest.slice(read);
      this.grow(rest.length * 3);
    }
  }

  /** Drops what was written since the last take. */
  reset(): void {
    this.written = 0;
  }

  /** The bytes written, as an owned copy; the builder is empty again and keeps its buffer. */
  take(): Uint8Array<ArrayBuffer> {
    const bytes = this.buffer.slice(0, this.written);
    this.reset();
    return bytes;
  }

  private grow(atLeast: number): void {
    const next = new Uint8Array(Math.max(this.buffer.length * 2, this.written + atLeast));
    next.set(this.buffer.subarray(0, this.written));
    this.buffer = next;
  }
}

/**
 * JSON.stringify(value) as UTF-8 bytes, written element by element: a plain object's values and an array's
 * elements down to `depth` levels are stringified one at a time into `builder`, so no string of the whole
 * answer is built. The bytes are those of JSON.stringify(value) (values it leaves out, left out; toJSON
 * honoured by stringifying that value whole).
 */
export function jsonBytes(value: unknown, builder: Utf8Builder, depth = 2): Uint8Array<ArrayBuffer> {
  builder.reset(); // what an answer that threw half-way (a BigInt, say) left there
  writeJson(value, builder, depth);
  return builder.take();
}

function writeJson(value: unknown, out: Utf8Builder, depth: number): void {
  if (depth === 0 || !isPlainContainer(value)) {
    out.append(JSON.stringify(value) ?? 'null');
    return;
  }
  if (Array.isArray(value)) {
    out.append('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.append(',');
      // inside an array, what JSON.stringify leaves out (undefined, a function) is null
      writeJson(value[i], out, depth - 1);
    }
    out.append(']');
    return;
  }
  out.append('{');
  let first = true;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    const whole = isPlainContainer(v) ? null : JSON.stringify(v);
    if (whole === undefined) continue; // undefined, a function, a symbol: the key is left out
    out.append(first ? `${JSON.stringify(key)}:` : `,${JSON.stringify(key)}:`);
    first = false;
    if (whole === null) writeJson(v, out, depth - 1);
    else out.append(whole);
  }
  out.append('}');
}

/** An array, or an object of Object's own prototype (or none) without toJSON: written part by part. */
function isPlainContainer(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return true;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
