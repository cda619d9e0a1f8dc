/**
 * A finished export's file on PostgreSQL (issue 17), read back for a download: the pieces covering a byte
 * range, a few at a time, so a server holds a few MiB of it at once whatever the file's size, and the
 * next round trip starts only when the client has taken what came before (the stream's pull).
 */
import type pg from 'pg';
import { type StoredPiece, slicePieces } from './byte-pieces.js';

/** Pieces (up to 1 MiB each) per round trip. */
const PIECES_PER_READ = 4;

/** Bytes `start` to `end` (inclusive) of a complete export's file, as a stream. */
export function exportFileRange(
  pool: pg.Pool,
  tenantId: number,
  exportId: string,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  let at = start;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at > end) return controller.close();
      // the piece holding `at`, and those after it
      const { rows } = await pool.query<StoredPiece>(
        `SELECT start_offset::float8 AS start, bytes FROM export_bytes
          WHERE tenant_id = $1 AND export_id = $2 AND part = 0 AND start_offset <= $4
            AND start_offset >= (SELECT coalesce(max(start_offset), 0) FROM export_bytes
                                  WHERE tenant_id = $1 AND export_id = $2 AND part = 0 AND start_offset <= $3)
          ORDER BY start_offset LIMIT $5`,
        [tenantId, exportId, at, end, PIECES_PER_READ],
      );
      const { slices, next } = slicePieces(rows, at, end + 1);
      if (next === at) return controller.error(new Error(`export ${exportId}: bytes from ${at} are gone`));
      for (const slice of slices) controller.enqueue(slice);
      at = next;
      if (at > end) controller.close();
    },
  });
}
