import { Unzip, UnzipInflate } from 'fflate';
import { NamedError } from '../domain/named-error.js';

/** Why a zip stopped being readable: a status and a stable code for the problem the client gets. */
export class ZipProblem extends NamedError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ZipLimits {
  /** Decompressed bytes accepted in all. */
  maxOutBytes: number;
  /** Decompressed / compressed, checked once past 1 MiB of output. */
  maxRatio: number;
  /** Entries (of any kind) in one archive: each costs work even when empty. */
  maxMembers: number;
}

/** What one step of reading produced. */
export interface ZipStep {
  pieces: Uint8Array[];
  failure: ZipProblem | null;
}

/** Input is fed in slices this small, so one synchronous push cannot expand past a few MiB. */
const SLICE = 16 * 1024;
const NEWLINE = new Uint8Array([10]);
/** End-of-central-directory record: signature, then a 22-byte record and a comment of up to 65,535 bytes. */
const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const EOCD_SEARCH = EOCD_SIZE + 0xffff;

/** Which members hold rows: NDJSON-like files, not folders or macOS resource forks. */
function holdsRows(name: string): boolean {
  return !name.endsWith('/') && !name.startsWith('__MACOSX/') && /\.(ndjson|jsonl|json|txt)$/i.test(name);
}

/**
 * Streaming zip reading: compressed bytes in, each NDJSON member's bytes out (a line break after each),
 * with the limits of a request body. It checks what fflate's streaming reader does not: that the archive
 * ends with its end-of-central-directory record. A zip cut off (a client that stopped, a proxy that cut
 * the body) at a member boundary reads as a smaller valid zip otherwise, and the missing members would be
 * lost without a word. Runs in a worker (see the unzipStream task), never on the event loop.
 */
export class ZipReader {
  private readonly unzip: Unzip;
  private out: Uint8Array[] = [];
  private failure: ZipProblem | null = null;
  private members = 0;
  private rowMembers = 0;
  private wire = 0;
  private produced = 0;
  /** the last bytes seen, where the end-of-central-directory record must be */
  private tail = new Uint8Array(0);

  constructor(private readonly limits: ZipLimits) {
    this.unzip = new Unzip((file) => {
      this.members++;
      if (this.members > limits.maxMembers) {
        this.failure ??= new ZipProblem(
          413,
          'too_many_zip_members',
          `The zip archive has more than ${limits.maxMembers} entries.`,
        );
        return;
      }
      if (!holdsRows(file.name)) return;
      this.rowMembers++;
      file.ondata = (error, data, final) => {
        if (error) {
          this.failure ??= new ZipProblem(
            400,
            'corrupt_zip',
            `Zip member ${file.name} is corrupt: ${error.message}`,
          );
          return;
        }
        if (this.failure) return;
        if (data.byteLength) {
          this.out.push(data); // one slice's output is bounded; hand it on, then stop if it broke a limit
          this.count(data.byteLength);
        }
        if (final) this.out.push(NEWLINE);
      };
      try {
        file.start();
      } catch (error) {
        this.failure ??= new ZipProblem(
          415,
          'unsupported_zip_method',
          `Zip member ${file.name}: ${(error as Error).message}`,
        );
      }
    });
    this.unzip.register(UnzipInflate);
  }

  /**
   * Decodes the next compressed bytes: the member bytes they completed, and the failure they ran into, if
   * any (bytes decoded before a failure are still handed on, so their whole lines can be kept).
   */
  push(chunk: Uint8Array): ZipStep {
    if (!this.failure) {
      this.wire += chunk.byteLength;
      this.keepTail(chunk);
      for (let at = 0; at < chunk.byteLength && !this.failure; at += SLICE)
        this.feed(chunk.subarray(at, at + SLICE), false);
    }
    return this.take();
  }

  /** The input ended: the last bytes, then the archive's own end must be there. */
  end(): ZipStep {
    if (!this.failure) this.feed(new Uint8Array(0), true);
    if (!this.failure && this.rowMembers === 0)
      this.failure = new ZipProblem(400, 'empty_zip', 'The zip archive holds no .ndjson member.');
    if (!this.failure && !this.endsWithDirectory())
      this.failure = new ZipProblem(
        400,
        'truncated_zip',
        'The zip archive is cut off: its end-of-central-directory record is missing, so members may be missing too.',
      );
    return this.take();
  }

  /** Decompressed bytes so far. */
  get outBytes(): number {
    return this.produced;
  }

  private feed(slice: Uint8Array, final: boolean): void {
    try {
      this.unzip.push(slice, final);
    } catch (error) {
      this.failure ??= new ZipProblem(
        400,
        'corrupt_zip',
        `The zip archive is corrupt: ${(error as Error).message}`,
      );
    }
  }

  private count(bytes: number): void {
    this.produced += bytes;
    if (this.produced > this.limits.maxOutBytes)
      this.failure ??= new ZipProblem(
        413,
        'decompressed_too_large',
        `The body expands past ${this.limits.maxOutBytes} bytes.`,
      );
    else if (this.produced > 1 << 20 && this.produced / Math.max(1, this.wire) > this.limits.maxRatio)
      this.failure ??= new ZipProblem(
        413,
        'decompression_ratio_exceeded',
        `The body expands more than ${this.limits.maxRatio}x: refused as a compression bomb.`,
      );
  }

  private take(): ZipStep {
    const pieces = this.out;
    this.out = [];
    return { pieces, failure: this.failure };
  }

  private keepTail(chunk: Uint8Array): void {
    if (chunk.byteLength >= EOCD_SEARCH) {
      this.tail = chunk.slice(chunk.byteLength - EOCD_SEARCH);
      return;
    }
    const keep = Math.min(this.tail.byteLength, EOCD_SEARCH - chunk.byteLength);
    const next = new Uint8Array(keep + chunk.byteLength);
    next.set(this.tail.subarray(this.tail.byteLength - keep));
    next.set(chunk, keep);
    this.tail = next;
  }

  /** Whether the bytes end with an end-of-central-directory record whose comment reaches the very end. */
  private endsWithDirectory(): boolean {
    const t = this.tail;
    const view = new DataView(t.buffer, t.byteOffset, t.byteLength);
    for (let at = t.byteLength - EOCD_SIZE; at >= 0; at--) {
      if (view.getUint32(at, true) !== EOCD_SIGNATURE) continue;
      if (at + EOCD_SIZE + view.getUint16(at + 20, true) === t.byteLength) return true;
    }
    return false;
  }
}
