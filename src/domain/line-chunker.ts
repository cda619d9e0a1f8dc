import { NamedError } from './named-error.js';
/** A line longer than the limit: the body cannot be split safely past it. */
export class LineTooLong extends NamedError {
  constructor(
    readonly line: number,
    readonly limit: number,
  ) {
    super(`line ${line} is longer than ${limit} bytes`);
  }
}

export interface LineChunk {
  /** Whole lines; a fresh buffer that owns its memory, so it can be transferred to a worker. */
  bytes: Uint8Array;
  /** 1-based number of the chunk's first line. */
  firstLine: number;
  lines: number;
}

const NL = 10;

/**
 * Cuts a byte stream into chunks of whole lines: a chunk ends once it holds `targetBytes` or `targetLines`
 * lines, whichever comes first (ingest sets the line target to its rows per transaction, so a chunk is
 * one insert transaction, not a full one and a short one). Memory held is one chunk plus the current
 * partial line, which may not exceed `maxLineBytes`.
 */
export class LineChunker {
  private parts: Uint8Array[] = [];
  private size = 0;
  private nextLine: number;
  /** Bytes since the last newline in what is held. */
  private tailLength = 0;
  /** Whole lines held. */
  private linesHeld = 0;

  constructor(
    private readonly targetBytes: number,
    private readonly maxLineBytes: number,
    firstLine = 1,
    private readonly targetLines = Number.POSITIVE_INFINITY,
  ) {
    this.nextLine = firstLine;
  }

  /** Adds bytes and returns the chunks that became complete. */
  push(data: Uint8Array): LineChunk[] {
    const out: LineChunk[] = [];
    let held = 0; // start of the bytes of `data` not yet held
    let lineStart = 0;
    for (let nl = data.indexOf(NL); nl !== -1; nl = data.indexOf(NL, lineStart)) {
      if (this.tailLength + nl + 1 - lineStart > this.maxLineBytes)
        throw new LineTooLong(this.currentLine + this.linesIn(data, held, lineStart), this.maxLineBytes);
      this.tailLength = 0;
      this.linesHeld++;
      lineStart = nl + 1;
      if (this.size + lineStart - held >= this.targetBytes || this.linesHeld >= this.targetLines) {
        this.hold(data.subarray(held, lineStart));
        held = lineStart;
        out.push(this.cut());
      }
    }
    if (held < lineStart) this.hold(data.subarray(held, lineStart)); // whole lines short of a chunk
    if (lineStart < data.length) {
      const tail = data.length - lineStart;
      if (this.tailLength + tail > this.maxLineBytes)
        throw new LineTooLong(this.currentLine, this.maxLineBytes);
      this.hold(data.subarray(lineStart));
      this.tailLength += tail;
    }
    return out;
  }

  /** The rest (the last line may lack its newline). */
  end(): LineChunk | null {
    return this.size > 0 ? this.cut() : null;
  }

  /**
   * After the source failed: the whole lines held so far (the partial last line is dropped, it never
   * finished arriving).
   */
  completeLines(): LineChunk | null {
    if (this.size === this.tailLength) return null;
    const keep = this.size - this.tailLength;
    const all = this.cut();
    const bytes = all.bytes.slice(0, keep);
    return { bytes, firstLine: all.firstLine, lines: countNewlines(bytes) };
  }

  /**
   * The whole lines held so far, keeping the partial last line for later: lets a reader that has caught up
   * with its source hand over what it has instead of waiting for a full chunk.
   */
  wholeLines(): LineChunk | null {
    const keep = this.size - this.tailLength;
    if (keep === 0) return null;
    const all = this.cut();
    const tail = all.bytes.slice(keep);
    const bytes = all.bytes.slice(0, keep);
    const lines = countNewlines(bytes);
    this.nextLine = all.firstLine + lines;
    if (tail.length) {
      this.parts = [tail];
      this.size = tail.length;
    }
    this.linesHeld = 0;
    return { bytes, firstLine: all.firstLine, lines };
  }

  /** The line number the next unread line will have (for error reports). */
  get currentLine(): number {
    let lines = 0;
    for (const p of this.parts) lines += countNewlines(p);
    return this.nextLine + lines;
  }

  /** Keeps a view of `part` (streams hand out a fresh buffer per read, so a view is safe to keep). */
  private hold(part: Uint8Array): void {
    this.parts.push(part);
    this.size += part.length;
  }

  /** Lines in data[from, to): those of the current push not yet held, for a line number in an error. */
  private linesIn(data: Uint8Array, from: number, to: number): number {
    return countNewlines(data.subarray(from, to));
  }

  private cut(): LineChunk {
    const bytes = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      bytes.set(p, at);
      at += p.length;
    }
    const lines = this.linesHeld + (bytes[bytes.length - 1] !== NL ? 1 : 0);
    const chunk = { bytes, firstLine: this.nextLine, lines };
    this.nextLine += lines;
    this.parts = [];
    this.size = 0;
    this.linesHeld = 0;
    return chunk;
  }
}

function countNewlines(bytes: Uint8Array): number {
  let n = 0;
  let at = bytes.indexOf(NL);
  while (at !== -1) {
    n++;
    at = bytes.indexOf(NL, at + 1);
  }
  return n;
}
