import type { ExportCompression, ExportFormat } from '../domain/export.js';
import type { SearchField, SearchRow } from '../domain/search.js';

/** One finished row group, as the job stores it with its checkpoint. */
export interface EncodedRowGroup {
  rows: number;
  meta: Uint8Array;
}

export interface EncodedBatch {
  bytes: Uint8Array;
  rowGroups: EncodedRowGroup[];
}

/**
 * Turns batches of export rows into file bytes. Every batch is self-contained, so a file can be cut at any
 * batch boundary and continued later: a CSV gzip batch is a complete gzip member, a Parquet batch is whole
 * row groups whose metadata is kept for the footer.
 */
export interface ExportEncoder {
  /** Bytes that open the file. */
  header(): Uint8Array;
  /** Encodes one batch that will be written at file offset `offset`. */
  encode(rows: readonly SearchRow[], offset: number): EncodedBatch;
  /** Bytes that close the file, given every row group written (in order). */
  trailer(rowGroups: readonly Uint8Array[]): Uint8Array;
}

export const EMPTY_BYTES = new Uint8Array(0);

/**
 * The encoder for a format. Each lives in its own module, loaded on first use: the Parquet one pulls in
 * apache-arrow and the parquet-wasm module (about 36 MB of RSS once loaded), which a worker that never
 * writes Parquet should not carry.
 */
export async function createExportEncoder(
  format: ExportFormat,
  compression: ExportCompression,
  fields: readonly SearchField[],
): Promise<ExportEncoder> {
  if (format === 'csv') {
    const { CsvEncoder } = await import('./csv-encoder.js');
    return new CsvEncoder(fields, compression === 'gzip');
  }
  const { ParquetEncoder } = await import('./parquet-encoder.js');
  return new ParquetEncoder(fields, compression);
}

/**
 * A whole export file in one pass, piece by piece: the header, each batch encoded at the offset where it
 * lands, and the trailer with every row group. `progress` counts rows and bytes as they go. (Jobs write
 * batches themselves, because they checkpoint between them.)
 */
export function* encodedFile(
  encoder: ExportEncoder,
  batches: Iterable<readonly SearchRow[]>,
  progress = { rows: 0, bytes: 0 },
): Generator<Uint8Array> {
  const groups: Uint8Array[] = [];
  const header = encoder.header();
  progress.bytes += header.length;
  yield header;
  for (const rows of batches) {
    const out = encoder.encode(rows, progress.bytes);
    progress.rows += rows.length;
    progress.bytes += out.bytes.length;
    groups.push(...out.rowGroups.map((g) => g.meta));
    yield out.bytes;
  }
  const trailer = encoder.trailer(groups);
  progress.bytes += trailer.length;
  yield trailer;
}
