/**
 * Rows for PostgreSQL's `COPY … FROM STDIN` in its text format: one line per row, columns separated by
 * tabs, `\N` for null, and backslash, tab, newline and carriage return escaped inside values.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

const SPECIAL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One value as COPY text: null as `\N`, strings escaped, numbers as they print. */
export function copyValue(value: string | number | null): string {
  if (value === null) return '\\N';
  if (typeof value === 'number') return String(value);
  return value.replace(SPECIAL, (c) => ESCAPES[c]!);
}

/** One row as a COPY text line (with its newline). */
export function copyLine(values: readonly (string | number | null)[]): string {
  return `${values.map(copyValue).join('\t')}\n`;
}

/** Rows of lines this long (about) go to the server as one write. */
const CHUNK_CHARS = 256 * 1024;

/** Streams `lines` into `COPY <target> FROM STDIN` on the client (inside the caller's transaction). */
export async function copyInto(client: ClientBase, target: string, lines: Iterable<string>): Promise<void> {
  function* chunks(): Generator<string> {
    let buffer = '';
    for (const line of lines) {
      buffer += line;
      if (buffer.length >= CHUNK_CHARS) {
        yield buffer;
        buffer = '';
      }
    }
    if (buffer) yield buffer;
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(`COPY ${target} FROM STDIN`)));
}
