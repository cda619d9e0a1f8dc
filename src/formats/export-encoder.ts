import type { ExportCompression, ExportFormat } from '../domain/export.js';
import type { SearchField, SearchRow } from '../domain/search.js';
import type { ExportEncoder } from './encoder.js';

/**
 * Encoders given back by finished tasks, for the next task of the same shape on this thread (each worker
 * thread has its own module instance). A direct export is one task per 4,096-row stripe: an encoder made per
 * task grew its buffers from nothing each time (a CSV writer doubled from 64 KiB to the batch's size, about
 * 4 MB of dead Buffers per stripe), and dead Buffers are freed only when V8 gets round to their objects.
 */
const kept: ExportEncoder[] = [];
/** What each encoder this module made was made for: `format:compression:fields`. */
const shapes = new WeakMap<ExportEncoder, string>();
/** Two per thread: a worker runs two stripes of one export at once when stripes run ahead of the socket. */
const KEPT_ENCODERS = 2;

/**
 * The encoder for a format: a kept one of the same shape, or a new one. Each format lives in its own
 * module, loaded on first use: the Parquet one pulls in apache-arrow and the parquet-wasm module (about
 * 36 MB of RSS once loaded), which a worker that never writes Parquet should not carry.
 */
export async function createExportEncoder(
  format: ExportFormat,
  compression: ExportCompression,
  fields: readonly SearchField[],
): Promise<ExportEncoder> {
  const shape = `${format}:${compression}:${fields.join(',')}`;
  const at = kept.findIndex((k) => shapes.get(k) === shape);
  if (at !== -1) return kept.splice(at, 1)[0]!;
  const encoder = await newExportEncoder(format, compression, fields);
  shapes.set(encoder, shape);
  return encoder;
}

/** Gives an encoder back once the caller is done with it and with every piece it returned. */
export function releaseExportEncoder(encoder: ExportEncoder): void {
  if (!shapes.has(encoder) || kept.includes(encoder)) return;
  kept.unshift(encoder);
  kept.length = Math.min(kept.length, KEPT_ENCODERS);
}

/** Drops the kept encoders (a thread gone quiet gives its memory back). */
export function dropKeptEncoders(): void {
  kept.length = 0;
}

/** How many encoders this thread keeps now. */
export function keptEncoders(): number {
  return kept.length;
}

async function newExportEncoder(
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
