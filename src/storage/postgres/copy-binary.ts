/**
 * Rows read through `COPY (query) TO STDOUT (FORMAT binary)`: each field's bytes as PostgreSQL stores them,
 * without the hex text a bytea column takes in a query's answer (twice the bytes, encoded by the server and
 * decoded here). Reading a year of line blocks (69 MB) took ~700 ms as a query's rows and ~100 ms this way
 * (docs/postgres.md). The format (PostgreSQL's COPY documentation, "Binary Format"): an 11-byte signature,
 * a 32-bit flags field and a 32-bit header extension length (and that many bytes); then per row a 16-bit
 * field count (-1 ends the data) and per field a 32-bit length (-1: NULL) and its bytes, all big-endian.
 */
import type { ClientBase } from 'pg';
import { to as copyTo } from 'pg-copy-streams';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Bytes of a COPY stream taken as they come, whatever the chunk boundaries. */
class ChunkReader {
  private chunks: Buffer[] = [];
  private head = 0;
  available = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /** The next `n` bytes, copied into a new (8-byte aligned) array. */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let filled = 0; filled < n; ) {
      const chunk = this.chunks[0]!;
      const count = Math.min(n - filled, chunk.length - this.head);
      out.set(chunk.subarray(this.head, this.head + count), filled);
      filled += count;
      this.head += count;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.available -= n;
    return out;
  }

  int16(): number {
    return new DataView(this.take(2).buffer).getInt16(0);
  }

  int32(): number {
    return new DataView(this.take(4).buffer).getInt32(0);
  }
}

/**
 * The rows of `query` (which takes no parameters: COPY has none, so its values are written into it), each
 * as its fields' bytes (null for NULL), a row yielded as soon as its bytes have arrived. Read it to its end:
 * the connection is busy with the COPY until then.
 */
export function copyBinaryRows(client: ClientBase, query: string): AsyncGenerator<(Uint8Array | null)[]> {
  const stream = client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT binary)`));
  return binaryCopyRows(stream as AsyncIterable<Buffer>);
}

/** The rows of a binary COPY stream, whatever its chunks' boundaries. */
export async function* binaryCopyRows(chunks: AsyncIterable<Buffer>): AsyncGenerator<(Uint8Array | null)[]> {
  const reader = new ChunkReader();
  let state = 'header' as 'header' | 'extension' | 'rows' | 'done';
  let extension = 0;
  let row: (Uint8Array | null)[] | null = null;
  let fields = 0;
  let fieldLength: number | null = null;
  for await (const chunk of chunks) {
    reader.push(chunk);
    for (;;) {
      if (state === 'header') {
        if (reader.available < SIGNATURE.length + 8) break;
        if (!Buffer.from(reader.take(SIGNATURE.length)).equals(SIGNATURE))
          throw new Error('not a binary COPY stream');
        reader.int32(); // flags: bit 16, OIDs included, is never set by a COPY of a query
        extension = reader.int32();
        state = 'extension';
      } else if (state === 'extension') {
        if (reader.available < extension) break;
        reader.take(extension);
        state = 'rows';
      } else if (state === 'rows') {
        if (row === null) {
          if (reader.available < 2) break;
          fields = reader.int16();
          if (fields === -1) {
            state = 'done';
            continue;
          }
          row = [];
        }
        if (row.length === fields) {
          yield row;
          row = null;
          continue;
        }
        if (fieldLength === null) {
          if (reader.available < 4) break;
          fieldLength = reader.int32();
        }
        if (fieldLength === -1) row.push(null);
        else if (reader.available < fieldLength) break;
        else row.push(reader.take(fieldLength));
        fieldLength = null;
      } else break;
    }
  }
  if (state !== 'done') throw new Error('binary COPY stream ended before its trailer');
}
