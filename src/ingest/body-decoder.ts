import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Config } from '../config/load.js';
import { type BodyDeadlines, withDeadlines } from '../http/body-deadline.js';
import { Problem } from '../http/problem.js';
import type { ProblemCode } from '../http/problem-catalog.js';
import { BodyError } from './body-error.js';
import { multipartFiles } from './multipart.js';

export interface DecodeLimits {
  /** Compressed (wire) bytes accepted in one request. */
  maxBodyBytes: number;
  /** Entries in one zip archive (each costs work, even an empty one). */
  maxZipMembers: number;
  /** Decompressed bytes accepted in one request. */
  maxDecompressedBytes: number;
  /** Decompressed / compressed, checked once past 1 MiB of output (zip and gzip bombs). */
  maxRatio: number;
}

/** The decoding limits of a server's configuration. */
export function decodeLimits(limits: Config['body']): DecodeLimits {
  return {
    maxBodyBytes: limits.maxBytes,
    maxDecompressedBytes: limits.maxDecompressedBytes,
    maxRatio: limits.maxDecompressionRatio,
    maxZipMembers: limits.maxZipMembers,
  };
}

/**
 * What decoding an ingest body can answer: its size and encoding, gzip, zip (src/formats/zip-reader.ts,
 * inflated in the pool) and multipart framing, and its deadlines. Documented for every operation that
 * takes an ingest body, so a new failure here is documented there too.
 */
export const INGEST_BODY_PROBLEMS = [
  'body_too_large',
  'body_timeout',
  'body_incomplete',
  'unsupported_media_type',
  'unsupported_content_encoding',
  'corrupt_gzip',
  'decompressed_too_large',
  'decompression_ratio_exceeded',
  'corrupt_zip',
  'truncated_zip',
  'empty_zip',
  'too_many_zip_members',
  'unsupported_zip_method',
  'unzip_failed',
  'malformed_multipart',
  'no_file_part',
  'too_many_parts',
] as const satisfies readonly ProblemCode[];

const GZIP = [0x1f, 0x8b];
const ZIP = [0x50, 0x4b, 0x03, 0x04];
const ZIP_EMPTY = [0x50, 0x4b, 0x05, 0x06];

export type BodyEncoding = 'gzip' | 'zip' | 'plain';

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

/** A body's encoding from its first bytes (their magic numbers); the one sniffer of request bodies and uploads. */
export function sniffEncoding(first: Uint8Array): BodyEncoding {
  if (startsWith(first, GZIP)) return 'gzip';
  if (startsWith(first, ZIP) || startsWith(first, ZIP_EMPTY)) return 'zip';
  return 'plain';
}

/** Counts wire bytes (refusing past the body limit) and feeds them to `onBytes` (the idempotency fingerprint). */
export async function* metered(
  source: AsyncIterable<Uint8Array>,
  limits: DecodeLimits,
  counter: { wire: number },
  onBytes?: (b: Uint8Array) => void,
) {
  for await (const chunk of source) {
    counter.wire += chunk.byteLength;
    if (counter.wire > limits.maxBodyBytes) {
      throw new BodyError('body_too_large', `The body is larger than ${limits.maxBodyBytes} bytes.`);
    }
    onBytes?.(chunk);
    yield chunk;
  }
}

/**
 * Enforces the decompressed-size and ratio limits on a decoded stream. The ratio is taken against the
 * compressed bytes the decoder has consumed (`consumed`, by default all read so far): a reader that runs
 * ahead of the decoder (a tus upload read from its staging file) must not make a bomb look diluted.
 */
function guard(
  counter: { wire: number; out: number },
  limits: DecodeLimits,
  piece: Uint8Array,
  consumed = counter.wire,
): void {
  counter.out += piece.byteLength;
  if (counter.out > limits.maxDecompressedBytes) {
    throw new BodyError(
      'decompressed_too_large',
      `The body expands past ${limits.maxDecompressedBytes} bytes.`,
    );
  }
  if (counter.out > 1 << 20 && counter.out / Math.max(1, consumed) > limits.maxRatio) {
    throw new BodyError(
      'decompression_ratio_exceeded',
      `The body expands more than ${limits.maxRatio}x: refused as a compression bomb.`,
    );
  }
}

/** Peeks at the first bytes to pick a decoder, then yields decompressed bytes. */
export async function* decodeByMagic(
  source: AsyncIterable<Uint8Array>,
  counter: { wire: number; out: number },
  limits: DecodeLimits,
  unzip: Unzipper,
  forced?: BodyEncoding,
): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  let first = await iterator.next();
  while (!first.done && first.value.byteLength === 0) first = await iterator.next();
  if (first.done) return;
  const head = first.value;
  const rest: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      yield head;
      for (;;) {
        const n = await iterator.next();
        if (n.done) return;
        yield n.value;
      }
    },
  };
  const kind = forced ?? sniffEncoding(head);
  if (kind === 'plain') {
    for await (const piece of rest) {
      guard(counter, limits, piece);
      yield piece;
    }
  } else if (kind === 'gzip') yield* gunzip(rest, counter, limits);
  else yield* unzip(rest, counter, limits);
}

async function* gunzip(
  source: AsyncIterable<Uint8Array>,
  counter: { wire: number; out: number },
  limits: DecodeLimits,
): AsyncGenerator<Uint8Array> {
  const z = createGunzip({ chunkSize: 64 * 1024 });
  const input = Readable.from(source, { objectMode: false });
  input.on('error', (e) => z.destroy(e));
  input.pipe(z);
  try {
    for await (const piece of z as AsyncIterable<Buffer>) {
      guard(counter, limits, piece, z.bytesWritten);
      yield piece;
    }
  } catch (error) {
    if (error instanceof Problem) throw error;
    throw new BodyError('corrupt_gzip', `The gzip stream is corrupt: ${(error as Error).message}`);
  } finally {
    input.destroy();
    z.destroy();
  }
}

const NEWLINE = new Uint8Array([10]);

/**
 * Reads a zip body somewhere other than the event loop, with the limits (src/ingest/unzipper.ts sends it to
 * the pool). Yields each NDJSON member's bytes, a line break after each; throws a BodyError for a corrupt,
 * truncated, oversized or bomb-like archive, after handing on the bytes decoded before it.
 */
export type Unzipper = (
  source: AsyncIterable<Uint8Array>,
  counter: { wire: number; out: number },
  limits: DecodeLimits,
) => AsyncGenerator<Uint8Array>;

export interface DecodedBody {
  /** Decompressed NDJSON bytes, in order. */
  bytes: AsyncGenerator<Uint8Array>;
  counter: { wire: number; out: number };
}

/**
 * Picks the decoder from Content-Type and Content-Encoding (and magic bytes for octet-stream and file
 * parts) and returns NDJSON bytes as they arrive. Nothing is buffered beyond one decoded piece.
 */
export function decodeIngestBody(
  req: IncomingMessage,
  limits: DecodeLimits,
  unzip: Unzipper,
  deadlines: BodyDeadlines,
  onWireBytes?: (b: Uint8Array) => void,
): DecodedBody {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const counter = { wire: 0, out: 0 };
  if (!['identity', 'gzip', 'x-gzip'].includes(encoding)) {
    throw new Problem('unsupported_content_encoding', 'Content-Encoding may be gzip or absent.');
  }
  const wire = metered(
    withDeadlines(req as AsyncIterable<Uint8Array>, deadlines),
    limits,
    counter,
    onWireBytes,
  );
  const base = type.split(';')[0]!.trim();
  if (base === 'multipart/form-data') {
    const headers = req.headers as Record<string, string>;
    const parts = multipartFiles(
      req,
      headers,
      encoding === 'identity' ? wire : decodeByMagic(wire, counter, limits, unzip, 'gzip'),
    );
    const partCounter = { wire: 0, out: 0 };
    async function* all() {
      for await (const part of parts) {
        // Each file part may itself be plain, gzip or zip NDJSON; parts are separated by a line break.
        for await (const piece of decodeByMagic(
          part,
          partCounter,
          { ...limits, maxRatio: Number.POSITIVE_INFINITY },
          unzip,
        )) {
          guard(counter, { ...limits, maxRatio: limits.maxRatio }, piece);
          yield piece;
        }
        yield NEWLINE;
      }
    }
    return { bytes: all(), counter };
  }
  if (
    [
      'application/x-ndjson',
      'application/ndjson',
      'application/jsonl',
      'application/x-jsonlines',
      'text/plain',
    ].includes(base)
  ) {
    return {
      bytes: decodeByMagic(wire, counter, limits, unzip, encoding === 'identity' ? 'plain' : 'gzip'),
      counter,
    };
  }
  if (base === 'application/octet-stream' || base === 'application/gzip' || base === 'application/zip') {
    return {
      bytes: decodeByMagic(wire, counter, limits, unzip, encoding === 'identity' ? undefined : 'gzip'),
      counter,
    };
  }
  throw new Problem(
    'unsupported_media_type',
    'Send application/x-ndjson, application/octet-stream (gzip or zip of NDJSON) or multipart/form-data.',
  );
}
