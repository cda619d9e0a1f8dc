import { gzipSync } from 'node:zlib';
import { type CsvCell, csvRow, jsonCell, numberCell, safeTextCell } from '../domain/csv.js';
import { rowLayout, type SearchField, type SearchRow } from '../domain/search.js';
import { ByteWriter } from './byte-writer.js';
import { EMPTY_BYTES, type EncodedBatch, type ExportEncoder } from './encoder.js';

/** How each exportable field becomes a cell. */
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

/**
 * RFC 4180 CSV with a header row, text cells neutralised against formula injection (src/domain/csv.ts);
 * with gzip, every batch is a complete gzip member. Each column's cell function is chosen once, so a row
 * is one string built cell by cell (no array of values per row).
 */
export class CsvEncoder implements ExportEncoder {
  private readonly columns: number[];
  private readonly cells: CsvCell[];
  private readonly out = new ByteWriter();

  constructor(
    private readonly fields: readonly SearchField[],
    private readonly gzip: boolean,
  ) {
    this.columns = rowLayout(fields);
    this.cells = fields.map((f) => CELLS[f]);
  }

  private pack(bytes: Uint8Array): Uint8Array {
    return this.gzip ? gzipSync(bytes, { level: GZIP_LEVEL }) : bytes;
  }

  header(): Uint8Array {
    return this.pack(Buffer.from(csvRow(this.fields)));
  }

  /**
   * The batch as uncompressed CSV bytes (a view into a reused buffer: valid until the next call) and its
   * row count.
   */
  plain(rows: Iterable<SearchRow>): { bytes: Uint8Array; rows: number } {
    const { columns, cells, out } = this;
    const last = columns.length - 1;
    out.length = 0;
    let count = 0;
    for (const row of rows) {
      let line = '';
      for (let i = 0; i < last; i++) line += `${cells[i]!(row[columns[i]!])},`;
      out.write(`${line}${cells[last]!(row[columns[last]!])}\r\n`);
      count++;
    }
    return { bytes: out.bytes(), rows: count };
  }

  /** Plain CSV bytes are a view into the encoder's buffer: written out (or copied) before the next call. */
  encode(rows: Iterable<SearchRow>): EncodedBatch {
    const plain = this.plain(rows);
    return { bytes: plain.rows ? this.pack(plain.bytes) : EMPTY_BYTES, rowGroups: [], rows: plain.rows };
  }

  trailer(): Uint8Array {
    return EMPTY_BYTES;
  }
}
