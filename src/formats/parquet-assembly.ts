import { NamedError } from '../domain/named-error.js';
import {
  field,
  readStruct,
  removeFields,
  setField,
  type ThriftStruct,
  type ThriftValue,
  WireType,
  writeStruct,
} from './thrift-compact.js';

/**
 * One Parquet file assembled from independently written single-row-group files ("parts").
 *
 * A Parquet file is `PAR1`, column chunk bytes, a Thrift FileMetaData footer, its length and `PAR1`. Column
 * chunk bytes never refer to their own position: only the footer holds file offsets. So a part's body can be
 * appended anywhere in the final file as long as its row group metadata is shifted by the distance moved.
 * The export writes each part's body straight into the final file, keeps the shifted row group metadata
 * (durably, with its checkpoint), and writes one footer for all row groups at the end. A resumed export
 * truncates to the last checkpoint and appends the next parts: finished row groups are never re-encoded.
 */

export const PARQUET_MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"

// Field ids from parquet.thrift.
const FILE_META = { numRows: 3, rowGroups: 4 } as const;
const ROW_GROUP = { columns: 1, numRows: 3, fileOffset: 5, ordinal: 7 } as const;
const COLUMN_CHUNK = {
  metaData: 3,
  offsetIndexOffset: 4,
  offsetIndexLength: 5,
  columnIndexOffset: 6,
  columnIndexLength: 7,
} as const;
const COLUMN_META = {
  dataPageOffset: 9,
  indexPageOffset: 10,
  dictionaryPageOffset: 11,
  bloomFilterOffset: 14,
  bloomFilterLength: 15,
} as const;

export class ParquetPartError extends NamedError {
  readonly code = 'parquet_part_invalid';
}

export interface ParquetPart {
  /** Column chunk bytes of the part's row groups (page indexes and bloom filters left out). */
  body: Uint8Array;
  /** The part's footer, with row groups removed: the same for every part of one schema. */
  template: ThriftStruct;
  /** Row group metadata as written in the part (offsets relative to the part file). */
  rowGroups: ThriftStruct[];
  rows: number;
}

const asStruct = (v: ThriftValue | undefined) => v as ThriftStruct;
const asList = (v: ThriftValue | undefined) => (v as { items: ThriftValue[] } | undefined)?.items ?? [];
const asNumber = (v: ThriftValue | undefined) => Number(v ?? 0);

/** Splits a complete Parquet file written by parquet-wasm into its body and metadata. */
export function splitPart(file: Uint8Array): ParquetPart {
  const n = file.length;
  if (n < 12 || !startsWithMagic(file, 0) || !startsWithMagic(file, n - 4))
    throw new ParquetPartError('not a Parquet file');
  const footerLength = new DataView(file.buffer, file.byteOffset + n - 8, 4).getUint32(0, true);
  const footerStart = n - 8 - footerLength;
  if (footerStart < 4) throw new ParquetPartError('footer length out of range');
  const meta = readStruct(file.subarray(footerStart, n - 8));
  const rowGroups = asList(field(meta, FILE_META.rowGroups)?.value).map(asStruct);
  // Page indexes and bloom filters sit after the last row group; the body ends where the first of them starts.
  let bodyEnd = footerStart;
  for (const rowGroup of rowGroups) {
    for (const chunk of asList(field(rowGroup, ROW_GROUP.columns)?.value).map(asStruct)) {
      for (const id of [COLUMN_CHUNK.offsetIndexOffset, COLUMN_CHUNK.columnIndexOffset]) {
        const offset = field(chunk, id);
        if (offset) bodyEnd = Math.min(bodyEnd, asNumber(offset.value));
      }
      const bloom = field(
        asStruct(field(chunk, COLUMN_CHUNK.metaData)?.value),
        COLUMN_META.bloomFilterOffset,
      );
      if (bloom) bodyEnd = Math.min(bodyEnd, asNumber(bloom.value));
    }
  }
  return {
    body: file.subarray(4, bodyEnd),
    template: removeFields(meta, [FILE_META.rowGroups, FILE_META.numRows]),
    rowGroups,
    rows: asNumber(field(meta, FILE_META.numRows)?.value),
  };
}

/**
 * A part's row group moved so its body starts at `bodyOffset` of the final file. Page-index and bloom
 * filter references are dropped (those bytes are not carried over); every other offset is shifted.
 */
export function relocateRowGroup(rowGroup: ThriftStruct, bodyOffset: number): ThriftStruct {
  const shift = BigInt(bodyOffset - 4);
  const moved = (s: ThriftStruct, id: number) => {
    const f = field(s, id);
    if (f) f.value = BigInt(f.value as bigint) + shift;
  };
  const copy = readStruct(writeStruct(rowGroup));
  moved(copy, ROW_GROUP.fileOffset);
  const columns = asList(field(copy, ROW_GROUP.columns)?.value).map((c) => {
    const chunk = removeFields(asStruct(c), [
      COLUMN_CHUNK.offsetIndexOffset,
      COLUMN_CHUNK.offsetIndexLength,
      COLUMN_CHUNK.columnIndexOffset,
      COLUMN_CHUNK.columnIndexLength,
    ]);
    const metaField = field(chunk, COLUMN_CHUNK.metaData);
    if (metaField) {
      const meta = removeFields(asStruct(metaField.value), [
        COLUMN_META.bloomFilterOffset,
        COLUMN_META.bloomFilterLength,
      ]);
      moved(meta, COLUMN_META.dataPageOffset);
      moved(meta, COLUMN_META.indexPageOffset);
      moved(meta, COLUMN_META.dictionaryPageOffset);
      metaField.value = meta;
    }
    return chunk;
  });
  setField(copy, ROW_GROUP.columns, WireType.List, { elementType: WireType.Struct, items: columns });
  return copy;
}

/** Stored row group metadata (see relocateRowGroup) moved `delta` bytes further into the file. */
export function shiftRowGroup(meta: Uint8Array, delta: number): Uint8Array {
  return delta === 0 ? meta : writeStruct(relocateRowGroup(readStruct(meta), delta + 4));
}

export function rowGroupRows(rowGroup: ThriftStruct): number {
  return asNumber(field(rowGroup, ROW_GROUP.numRows)?.value);
}

/** The closing bytes of the assembled file: the merged footer, its length and the magic. */
export function assembleFooter(template: ThriftStruct, rowGroups: readonly Uint8Array[]): Uint8Array {
  const meta = readStruct(writeStruct(template));
  // one row group parsed at a time, re-encoded with its ordinal: hundreds of parsed row groups (with
  // their column statistics) at once took ~35 MB at the end of a 2M-row export
  let rows = 0;
  const groups = rowGroups.map((bytes, ordinal) => {
    const group = readStruct(bytes);
    setField(group, ROW_GROUP.ordinal, WireType.I16, ordinal);
    rows += rowGroupRows(group);
    return { encoded: writeStruct(group) };
  });
  setField(meta, FILE_META.numRows, WireType.I64, BigInt(rows));
  setField(meta, FILE_META.rowGroups, WireType.List, { elementType: WireType.Struct, items: groups });
  const footer = writeStruct(meta);
  const out = new Uint8Array(footer.length + 8);
  out.set(footer, 0);
  new DataView(out.buffer).setUint32(footer.length, footer.length, true);
  out.set(PARQUET_MAGIC, footer.length + 4);
  return out;
}

function startsWithMagic(bytes: Uint8Array, at: number): boolean {
  return PARQUET_MAGIC.every((b, i) => bytes[at + i] === b);
}
