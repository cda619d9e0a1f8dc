import { tableToIPC } from 'apache-arrow';
import type { ExportCompression } from '../domain/export.js';
import type { SearchField, SearchRow } from '../domain/search.js';
import { EMPTY_BYTES, type EncodedBatch, type ExportEncoder } from './encoder.js';
import { OrderTableBuilder } from './order-arrow.js';
import {
  assembleFooter,
  PARQUET_MAGIC,
  relocateRowGroup,
  rowGroupRows,
  splitPart,
} from './parquet-assembly.js';
import {
  Compression,
  EnabledStatistics,
  Table as WasmTable,
  WriterPropertiesBuilder,
  writeParquet,
} from './parquet-wasm.js';
import { type ThriftStruct, writeStruct } from './thrift-compact.js';

const CODECS: Record<ExportCompression, Compression> = {
  none: Compression.UNCOMPRESSED,
  gzip: Compression.GZIP,
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
};

/** The builder's rows as one Parquet file of one row group (the builder starts its next batch). */
function parquetBytes(table: OrderTableBuilder, codec: Compression) {
  // Chunk-level statistics only: page indexes would be written after the row groups, outside the part body.
  const properties = new WriterPropertiesBuilder()
    .setCompression(codec)
    .setStatisticsEnabled(EnabledStatistics.Chunk)
    .setMaxRowGroupSize(Math.max(1, table.rows))
    .setCreatedBy('orderflow export (parquet-wasm)')
    .build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table.finish(), 'stream')), properties);
}

/** Parquet: each batch is encoded as its own one-row-group file whose body is appended (see parquet-assembly). */
export class ParquetEncoder implements ExportEncoder {
  /** Schema, creator and Arrow schema metadata: the same for every part, so taken from an empty one. */
  private readonly template: ThriftStruct;
  private readonly templateBytes: Uint8Array;
  private readonly codec: Compression;
  private readonly table: OrderTableBuilder;

  constructor(fields: readonly SearchField[], compression: ExportCompression) {
    this.codec = CODECS[compression];
    this.table = new OrderTableBuilder(fields);
    this.template = splitPart(parquetBytes(this.table, this.codec)).template;
    this.templateBytes = writeStruct(this.template);
  }

  header(): Uint8Array {
    return PARQUET_MAGIC.slice();
  }

  encode(rows: Iterable<SearchRow>, offset: number): EncodedBatch {
    const { table } = this;
    table.clear(); // rows a failed call left behind
    for (const row of rows) table.add(row);
    const count = table.rows;
    if (count === 0) return { bytes: EMPTY_BYTES, rowGroups: [], rows: 0 };
    const part = splitPart(parquetBytes(table, this.codec));
    // One footer will describe every part: a part whose schema differs would corrupt the file.
    if (Buffer.compare(writeStruct(part.template), this.templateBytes) !== 0)
      throw new Error('a Parquet part does not match the export schema');
    const rowGroups = part.rowGroups.map((g) => {
      const moved = relocateRowGroup(g, offset);
      return { rows: rowGroupRows(moved), meta: writeStruct(moved) };
    });
    return { bytes: part.body, rowGroups, rows: count };
  }

  trailer(rowGroups: readonly Uint8Array[]): Uint8Array {
    return assembleFooter(this.template, rowGroups);
  }
}
