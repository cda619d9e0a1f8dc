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

  /** Bytes it can hold before it grows. */
  get capacity(): number {
    return this.buffer.length;
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

/**
 * Writers handed from one short-lived encoder to the next on the same thread. A direct export is many
 * stripe tasks of one batch each; a writer made per task grew from 64 KiB to the batch's size by doubling
 * (about 4 MB of buffers per 4,096-row CSV stripe), and dead Buffers are freed only when V8 collects their
 * objects, so a worker held tens of MB of them between collections. A writer taken back is emptied; at most
 * `keep` are kept, none larger than `maxBytes`.
 */
export class ByteWriterShelf {
  private readonly kept: ByteWriter[] = [];

  constructor(
    private readonly keep = 2,
    private readonly maxBytes = 4 << 20,
  ) {}

  /** A writer to use until it is put back (a kept one when there is one). */
  take(): ByteWriter {
    const writer = this.kept.pop() ?? new ByteWriter();
    writer.length = 0;
    return writer;
  }

  /** Gives a writer back; its bytes must not be used afterwards. */
  put(writer: ByteWriter): void {
    if (this.kept.length >= this.keep || writer.capacity > this.maxBytes || this.kept.includes(writer))
      return;
    this.kept.push(writer);
  }

  /** Drops every kept writer (a thread gone quiet gives its memory back). */
  clear(): void {
    this.kept.length = 0;
  }

  get size(): number {
    return this.kept.length;
  }
}

/** This thread's shelf (each worker thread has its own module instance). */
export const threadWriters = new ByteWriterShelf();
