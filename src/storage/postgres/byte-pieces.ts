/**
 * Files kept in PostgreSQL as rows of pieces (issue 17): a tus upload's bytes (`upload_bytes`) and an
 * export's file (`export_bytes`), each piece keyed by where it starts.
 */

/** The largest piece one row holds (and one statement sends). */
export const PIECE_BYTES = 1 << 20;

/** A stored piece: where it starts, and its bytes. */
export interface StoredPiece {
  start: number;
  bytes: Buffer;
}

/**
 * The bytes from `from` up to `end` (exclusive) that consecutive pieces hold (in order, the first holding
 * `from`), as views of them, and where they stop: at `end`, or at a gap (the pieces were deleted meanwhile:
 * the upload or the export ended elsewhere).
 */
export function slicePieces(
  pieces: readonly StoredPiece[],
  from: number,
  end: number,
): { slices: Buffer[]; next: number } {
  const slices: Buffer[] = [];
  let at = from;
  for (const piece of pieces) {
    if (piece.start > at) break;
    const lo = at - piece.start;
    const hi = Math.min(piece.bytes.length, end - piece.start);
    if (hi <= lo) continue;
    slices.push(piece.bytes.subarray(lo, hi));
    at += hi - lo;
  }
  return { slices, next: at };
}
