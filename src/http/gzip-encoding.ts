import { Duplex } from 'node:stream';
import type { ReadableStream, WritableStream } from 'node:stream/web';
import { constants, createGzip } from 'node:zlib';

/**
 * zlib level for gzip added on the fly to a streamed response (Content-Encoding): the fastest level, as
 * nginx's default `gzip_comp_level 1`. Level 6 (CompressionStream's) took the main thread's share of an
 * export stream from parallel stripes to one core's worth; level 1 is about three times faster for
 * files ~20% larger (perf.md, Export). One gzip member: curl and browsers stop after the first.
 */
const TRANSFER_GZIP_LEVEL = 1;

/** A single-member gzip stream for a response body, compressed on libuv's thread pool. */
export function gzipTransferStream(): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  const gzip = createGzip({ level: TRANSFER_GZIP_LEVEL, flush: constants.Z_NO_FLUSH });
  return Duplex.toWeb(gzip) as { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
}
