/**
 * A finished export's file on PostgreSQL (issue 17), read back for a download: the pieces covering a byte
 * range, a few at a time, so a server holds a few MiB of it at once whatever the file's size, and the
 * next round trip starts only when the client has taken what came before (the stream's pull).
 */
import type pg from 'pg';

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
      const { rows } = await pool.query<{ start: number; bytes: Buffer }>(
        `SELECT start_offset::float8 AS start, bytes FROM export_bytes
          WHERE tenant_id = $1 AND export_id = $2 AND part = 0 AND start_offset <= $4
            AND start_offset >= (SELECT coalesce(max(start_offset), 0) FROM export_bytes
                                  WHERE tenant_id = $1 AND export_id = $2 AND part = 0 AND start_offset <= $3)
          ORDER BY start_offset LIMIT $5`,
        [tenantId, exportId, at, end, PIECES_PER_READ],
      );
      let progressed = false;
      for (const row of rows) {
        if (row.start > at) break; // a gap: the export expired or was deleted meanwhile
        const from = at - row.start;
        const to = Math.min(row.bytes.length, end + 1 - row.start);
        if (to <= from) continue;
        controller.enqueue(new Uint8Array(row.bytes.buffer, row.bytes.byteOffset + from, to - from));
        at += to - from;
        progressed = true;
      }
      if (!progressed) controller.error(new Error(`export ${exportId}: bytes from ${at} are gone`));
      else if (at > end) controller.close();
    },
  });
}
