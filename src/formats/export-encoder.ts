import { gzipSync } from 'node:zlib';
import { tableToIPC } from 'apache-arrow';
import {
  Compression,
  EnabledStatistics,
  Table as WasmTable,
  WriterPropertiesBuilder,
  writeParquet,
} from 'parquet-wasm';
import { csvRow } from '../domain/csv.js';
import type { ExportCompression, ExportFormat } from '../domain/export.js';
import type { SearchField, SearchRow } from '../domain/search.js';
import { orderTable } from './order-arrow.js';
import {
  assembleFooter,
  PARQUET_MAGIC,
  relocateRowGroup,
  rowGroupRows,
  splitPart,
} from './parquet-assembly.js';
import { readStruct, type ThriftStruct, writeStruct } from './thrift-compact.js';

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

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

class CsvEncoder implements ExportEncoder {
  constructor(
    private readonly fields: readonly SearchField[],
    private readonly gzip: boolean,
  ) {}

  private pack(text: string): Uint8Array {
    const bytes = encoder.encode(text);
    return this.gzip ? gzipSync(bytes, { level: 6 }) : bytes;
  }

  header(): Uint8Array {
    return this.pack(csvRow(this.fields));
  }

  encode(rows: readonly SearchRow[]): EncodedBatch {
    const parts: string[] = [];
    const values: unknown[] = new Array(this.fields.length);
    for (const row of rows) {
      for (let i = 0; i < this.fields.length; i++) {
        const f = this.fields[i]!;
        values[i] = f === 'created_at' ? new Date(row._created_at).toISOString() : row[f];
      }
      parts.push(csvRow(values));
    }
    return { bytes: rows.length ? this.pack(parts.join('')) : EMPTY, rowGroups: [] };
  }

  trailer(): Uint8Array {
    return EMPTY;
  }
}

const CODECS: Record<ExportCompression, Compression> = {
  none: Compression.UNCOMPRESSED,
  gzip: Compression.GZIP,
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
};

function parquetBytes(rows: readonly SearchRow[], fields: readonly SearchField[], codec: Compression) {
  // Chunk-level statistics only: page indexes would be written after the row groups, outside the part body.
  const properties = new WriterPropertiesBuilder()
    .setCompression(codec)
    .setStatisticsEnabled(EnabledStatistics.Chunk)
    .setMaxRowGroupSize(Math.max(1, rows.length))
    .setCreatedBy('orderflow export (parquet-wasm)')
    .build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(orderTable(rows, fields), 'stream')), properties);
}

class ParquetEncoder implements ExportEncoder {
  /** Schema, creator and Arrow schema metadata: the same for every part, so taken from an empty one. */
  private readonly template: ThriftStruct;
  private readonly templateBytes: Uint8Array;

  constructor(
    private readonly fields: readonly SearchField[],
    private readonly codec: Compression,
  ) {
    this.template = splitPart(parquetBytes([], fields, codec)).template;
    this.templateBytes = writeStruct(this.template);
  }

  header(): Uint8Array {
    return PARQUET_MAGIC.slice();
  }

  encode(rows: readonly SearchRow[], offset: number): EncodedBatch {
    if (rows.length === 0) return { bytes: EMPTY, rowGroups: [] };
    const part = splitPart(parquetBytes(rows, this.fields, this.codec));
    // One footer will describe every part: a part whose schema differs would corrupt the file.
    if (Buffer.compare(writeStruct(part.template), this.templateBytes) !== 0)
      throw new Error('a Parquet part does not match the export schema');
    const rowGroups = part.rowGroups.map((g) => {
      const moved = relocateRowGroup(g, offset);
      return { rows: rowGroupRows(moved), meta: writeStruct(moved) };
    });
    return { bytes: part.body, rowGroups };
  }

  trailer(rowGroups: readonly Uint8Array[]): Uint8Array {
    return assembleFooter(this.template, rowGroups.map(readStruct));
  }
}

export function createExportEncoder(
  format: ExportFormat,
  compression: ExportCompression,
  fields: readonly SearchField[],
): ExportEncoder {
  return format === 'csv'
    ? new CsvEncoder(fields, compression === 'gzip')
    : new ParquetEncoder(fields, CODECS[compression]);
}
