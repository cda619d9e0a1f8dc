import type { ExportCompression, ExportFormat } from '../domain/export.js';
import type { SearchField, SearchRow } from '../domain/search.js';
import type { ExportEncoder } from './encoder.js';

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
 * lands, and the trailer with every row group. `progress` counts rows and bytes as they go. A piece is
 * valid until the next one is asked for (see ExportEncoder.encode): write or copy it first. (Jobs write
 * batches themselves, because they checkpoint between them.)
 */
export function* encodedFile(
  encoder: ExportEncoder,
  batches: Iterable<Iterable<SearchRow>>,
  progress = { rows: 0, bytes: 0 },
): Generator<Uint8Array> {
  const groups: Uint8Array[] = [];
  const header = encoder.header();
  progress.bytes += header.length;
  yield header;
  for (const rows of batches) {
    const out = encoder.encode(rows, progress.bytes);
    progress.rows += out.rows;
    progress.bytes += out.bytes.length;
    groups.push(...out.rowGroups.map((g) => g.meta));
    yield out.bytes;
  }
  const trailer = encoder.trailer(groups);
  progress.bytes += trailer.length;
  yield trailer;
}
