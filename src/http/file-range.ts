import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { Problem } from './problem.js';
import { decideRange, etagMatches } from './range.js';

/** A finished file to serve: how to read it, how long, its validators and how to name it. */
export interface ServedFile {
  /** Bytes `start` to `end` (inclusive), streamed */
  read(start: number, end: number): ReadableStream<Uint8Array>;
  size: number;
  /** the quoted strong ETag (ours: the file's sha256) */
  etag: string;
  lastModified: Date;
  contentType: string;
  /** the download's file name (Content-Disposition: attachment) */
  fileName: string;
}

/**
 * Serves a file as HTTP caches and download managers expect: If-None-Match answers 304; one byte range
 * (bytes=a-b, a-, -n) answers 206, unless If-Range names another version (then the whole file); a range
 * past the end answers 416 with the size. The body streams, so memory does not grow with it.
 */
export function serveFileRange(c: Context, file: ServedFile): Response {
  const lastModified = file.lastModified.toUTCString();
  const common: Record<string, string> = {
    etag: file.etag,
    'last-modified': lastModified,
    'accept-ranges': 'bytes',
    'cache-control': 'private, no-cache',
  };
  if (etagMatches(c.req.header('if-none-match'), file.etag)) return c.body(null, 304, common);
  const range = decideRange(c.req.header('range'), file.size, {
    ifRange: c.req.header('if-range'),
    etag: file.etag,
    lastModified,
  });
  if (range.kind === 'unsatisfiable')
    throw new Problem('range_not_satisfiable', `The file has ${file.size} bytes.`, {
      headers: { ...common, 'content-range': `bytes */${file.size}` },
    });
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : file.size - 1;
  const headers: Record<string, string> = {
    ...common,
    'content-type': file.contentType,
    'content-disposition': `attachment; filename="${file.fileName}"`,
    'content-length': String(Math.max(0, end - start + 1)),
  };
  if (range.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${file.size}`;
  c.get('log')?.info({ file: file.fileName, range: range.kind, start, end }, 'file download');
  const status = range.kind === 'partial' ? 206 : 200;
  if (file.size === 0) return c.body(null, status, headers);
  return c.body(file.read(start, end), status, headers);
}

/** A file on disk, read as a stream (memory does not grow with it). */
export function diskFileReader(path: string): ServedFile['read'] {
  return (start, end) =>
    Readable.toWeb(createReadStream(path, { start, end })) as unknown as ReadableStream<Uint8Array>;
}
