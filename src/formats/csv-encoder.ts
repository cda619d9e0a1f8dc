import { gzipSync } from 'node:zlib';
import { csvRow, safeCsvRow } from '../domain/csv.js';
import type { SearchField, SearchRow } from '../domain/search.js';
import { EMPTY_BYTES, type EncodedBatch, type ExportEncoder } from './export-encoder.js';

const encoder = new TextEncoder();
/**
 * RFC 4180 CSV with a header row, text cells neutralised against formula injection (src/domain/csv.ts);
 * with gzip, every batch is a complete gzip member.
 */
export class CsvEncoder implements ExportEncoder {
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
      parts.push(safeCsvRow(values));
    }
    return { bytes: rows.length ? this.pack(parts.join('')) : EMPTY_BYTES, rowGroups: [] };
  }

  trailer(): Uint8Array {
    return EMPTY_BYTES;
  }
}
