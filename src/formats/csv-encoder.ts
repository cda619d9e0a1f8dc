import { gzipSync } from 'node:zlib';
import { type CsvCell, csvRow, jsonCell, numberCell, safeTextCell } from '../domain/csv.js';
import type { SearchField, SearchRow } from '../domain/search.js';
import { ByteWriter } from './byte-writer.js';
import { EMPTY_BYTES, type EncodedBatch, type ExportEncoder } from './export-encoder.js';

/** How each exportable field becomes a cell (created_at is read from the row's sort key). */
const CELLS: Record<SearchField, CsvCell> = {
  order_id: safeTextCell,
  created_at: (ms) => new Date(ms as number).toISOString(),
  status: safeTextCell,
  total_cents: numberCell,
  currency: safeTextCell,
  customer_id: safeTextCell,
  customer_name: safeTextCell,
  customer_email: safeTextCell,
  item_count: numberCell,
  items: jsonCell,
};

/** zlib's default: level 1 is three times faster but its files are larger. */
export const GZIP_LEVEL = 6;

/** The row key a field's value is read from. */
const keyOf = (f: SearchField) => (f === 'created_at' ? '_created_at' : f);

/**
 * RFC 4180 CSV with a header row, text cells neutralised against formula injection (src/domain/csv.ts);
 * with gzip, every batch is a complete gzip member. Each column's cell function is chosen once, so a row
 * is one string built cell by cell (no array of values per row).
 */
export class CsvEncoder implements ExportEncoder {
  private readonly keys: string[];
  private readonly cells: CsvCell[];
  private readonly out = new ByteWriter();

  constructor(
    private readonly fields: readonly SearchField[],
    private readonly gzip: boolean,
  ) {
    this.keys = fields.map(keyOf);
    this.cells = fields.map((f) => CELLS[f]);
  }

  private pack(bytes: Uint8Array): Uint8Array {
    return this.gzip ? gzipSync(bytes, { level: GZIP_LEVEL }) : new Uint8Array(bytes); // a copy
  }

  header(): Uint8Array {
    return this.pack(Buffer.from(csvRow(this.fields)));
  }

  /** The batch as uncompressed CSV bytes (a view into a reused buffer: valid until the next call). */
  plain(rows: readonly SearchRow[]): Uint8Array {
    const { keys, cells, out } = this;
    const last = keys.length - 1;
    out.length = 0;
    for (const row of rows) {
      let line = '';
      for (let i = 0; i < last; i++) line += `${cells[i]!(row[keys[i]!])},`;
      out.write(`${line}${cells[last]!(row[keys[last]!])}\r\n`);
    }
    return out.bytes();
  }

  encode(rows: readonly SearchRow[]): EncodedBatch {
    return { bytes: rows.length ? this.pack(this.plain(rows)) : EMPTY_BYTES, rowGroups: [] };
  }

  trailer(): Uint8Array {
    return EMPTY_BYTES;
  }
}
