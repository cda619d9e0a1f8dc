/** multipart/form-data ingest bodies: their file parts, one after the other, through busboy. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import Busboy from 'busboy';
import { Problem } from '../http/problem.js';
import { BodyError } from './body-error.js';

function malformed(cause: Error): BodyError {
  return new BodyError('malformed_multipart', `The multipart body is malformed: ${cause.message}`);
}

/** A part's bytes; a part cut off (no closing boundary) fails as malformed multipart, not as a server error. */
async function* malformedOnError(part: Readable): AsyncGenerator<Uint8Array> {
  try {
    for await (const piece of part) yield piece as Uint8Array;
  } catch (error) {
    throw error instanceof Problem ? error : malformed(error as Error);
  }
}

/** File parts of a multipart body, one after the other (busboy pauses the request while a part is unread). */
export async function* multipartFiles(
  req: IncomingMessage,
  headers: Record<string, string>,
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<AsyncIterable<Uint8Array>> {
  let bb: ReturnType<typeof Busboy>;
  try {
    bb = Busboy({ headers, limits: { files: 100, fields: 20, fieldSize: 64 * 1024, parts: 200 } });
  } catch (error) {
    throw malformed(error as Error); // no boundary= in the content type, say
  }
  const queue: (Readable | null)[] = [];
  let error: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  bb.on('file', (_name, stream) => {
    queue.push(stream);
    notify();
  });
  bb.on('close', () => {
    queue.push(null);
    notify();
  });
  bb.on('error', (e: Error) => {
    error = malformed(e);
    notify();
  });
  bb.on('filesLimit', () => {
    error = new BodyError('too_many_parts', 'At most 100 file parts per request.');
    notify();
  });
  Readable.from(source)
    .on('error', (e) => bb.destroy(e))
    .pipe(bb);
  req.on('aborted', () => bb.destroy(new Error('client aborted')));
  let sawFile = false;
  for (;;) {
    if (error) throw error;
    const next = queue.shift();
    if (next === undefined) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      continue;
    }
    if (next === null) break;
    sawFile = true;
    yield malformedOnError(next);
    if (!next.readableEnded) next.resume(); // a part the consumer stopped reading must still be drained
  }
  if (error) throw error;
  if (!sawFile) throw new BodyError('no_file_part', 'The multipart body has no file part.');
}
