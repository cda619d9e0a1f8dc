import type { SearchRow } from '../domain/search.js';

/**
 * What every export encoder is (a leaf module: export-encoder.ts loads the encoders, and they import
 * only this).
 */

/** One finished row group, as the job stores it with its checkpoint. */
export interface EncodedRowGroup {
  rows: number;
  meta: Uint8Array;
}

export interface EncodedBatch {
  bytes: Uint8Array;
  rowGroups: EncodedRowGroup[];
  /** The rows it encoded. */
  rows: number;
}

/**
 * Turns batches of export rows into file bytes. Every batch is self-contained, so a file can be cut at any
 * batch boundary and continued later: a CSV gzip batch is a complete gzip member, a Parquet batch is whole
 * row groups whose metadata is kept for the footer.
 */
export interface ExportEncoder {
  /** Bytes that open the file. */
  header(): Uint8Array;
  /**
   * Encodes one batch that will be written at file offset `offset`, taking its rows one at a time (a page
   * read from SQLite as it is iterated: no row outlives its turn). Its bytes may be a view into the
   * encoder's own buffer, valid until the next call: every caller writes or copies them before that.
   */
  encode(rows: Iterable<SearchRow>, offset: number): EncodedBatch;
  /** Bytes that close the file, given every row group written (in order). */
  trailer(rowGroups: readonly Uint8Array[]): Uint8Array;
}

export const EMPTY_BYTES = new Uint8Array(0);
