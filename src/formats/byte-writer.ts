/**
 * Text appended as UTF-8 into one growing buffer. Writing each line straight into bytes is about a third
 * cheaper than joining a batch's lines into one string and encoding that (measured in
 * perf/export-profile): the joined string is a rope V8 must flatten before encoding it.
 */
export class ByteWriter {
  private buffer: Buffer;
  length = 0;

  constructor(initialBytes = 1 << 16) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  write(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit
    if (this.length + text.length * 3 > this.buffer.length) this.grow(this.length + text.length * 3);
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  /** The bytes written so far, as a view (valid until the next write). */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
}
