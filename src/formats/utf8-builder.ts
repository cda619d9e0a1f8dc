/**
 * Text gathered as UTF-8 bytes, in one buffer kept across uses (short pieces a few thousand characters
 * at a time); `take()` hands out the bytes as an owned copy (its own ArrayBuffer, so it can be transferred
 * to another thread) and starts over.
 *
 * Why not `new TextEncoder().encode(pieces.join(''))`: the join builds one large string (past ~128 KB V8
 * gives it fresh pages of its own), and Node 20's `encode` walks it once more to count its bytes before
 * allocating the result. Encoding the text a few thousand characters at a time into memory that is already
 * ours does neither: 2,000 orders' records (303 KB) 2.8 → 1.0 ms, a 160 KB metrics answer 1.5 → ~1.2 ms
 * (docs/perf.md, "twelfth session").
 */
const encoder = new TextEncoder();

/**
 * Short pieces are gathered as text until this many UTF-16 units, then encoded together: one `encodeInto`
 * per piece cost more than the join it replaced (100k lines of ~400 bytes through a stream's sink: 85–108
 * against 82–95 ms), the call and its view of the buffer dominating. A string of this size lives in the
 * young generation and is flattened there cheaply.
 */
const GATHER_UNITS = 16 * 1024;

export class Utf8Builder {
  private buffer: Uint8Array;
  private written = 0;
  private gathered = '';

  constructor(initialBytes = 64 * 1024) {
    this.buffer = new Uint8Array(initialBytes);
  }

  /**
   * About the bytes appended since the last take: exact for what was encoded, and the gathered text counted
   * a byte per UTF-16 unit (fewer than its bytes where it holds more than ASCII). For deciding when to take.
   */
  get size(): number {
    return this.written + this.gathered.length;
  }

  append(text: string): void {
    if (text.length < GATHER_UNITS) {
      this.gathered += text;
      if (this.gathered.length >= GATHER_UNITS) this.encodeGathered();
      return;
    }
    this.encodeGathered();
    this.encode(text);
  }

  /** Drops what was appended since the last take. */
  reset(): void {
    this.written = 0;
    this.gathered = '';
  }

  /** The bytes appended, as an owned copy; the builder is empty again and keeps its buffer. */
  take(): Uint8Array<ArrayBuffer> {
    this.encodeGathered();
    const bytes = this.buffer.slice(0, this.written);
    this.reset();
    return bytes;
  }

  private encodeGathered(): void {
    if (this.gathered === '') return;
    const text = this.gathered;
    this.gathered = '';
    this.encode(text);
  }

  private encode(text: string): void {
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
