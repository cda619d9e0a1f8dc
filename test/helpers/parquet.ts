import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { field, readStruct } from '../../src/formats/thrift-compact.js';

/**
 * Rows of a Parquet file as hyparquet reads them: it seeks to each column chunk at the footer's
 * `dictionary_page_offset` / `data_page_offset` and reads `total_compressed_size` bytes from there, so a
 * row group whose offsets were not moved with its bytes fails here (Arrow's and DuckDB's readers forgive
 * some such errors).
 */
export async function parquetRowsLiterally(bytes: Uint8Array): Promise<Record<string, unknown>[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return parquetReadObjects({ file, compressors });
}

/** Rows per row group, from the footer. */
export function parquetRowGroups(bytes: Uint8Array): number[] {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return parquetMetadata(file).row_groups.map((g) => Number(g.num_rows));
}

/** PageHeader.type (parquet.thrift): what a page offset in the footer must point at. */
const PAGE_TYPE = { DATA_PAGE: 0, DICTIONARY_PAGE: 2, DATA_PAGE_V2: 3 } as const;

/**
 * Every column chunk's page offsets as a reader that follows them literally uses them: the page header at
 * `dictionary_page_offset` is a dictionary page, the one at `data_page_offset` a data page, both inside
 * the chunk. (Readers start a chunk at its dictionary page when it has one, so a wrong data page offset
 * reads back fine; this finds it.) Returns the problems found, one line each.
 */
export function parquetPageOffsetProblems(bytes: Uint8Array): string[] {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const problems: string[] = [];
  const pageType = (at: number) => field(readStruct(bytes.subarray(at)), 1)?.value;
  for (const [g, group] of parquetMetadata(file).row_groups.entries()) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data!;
      const name = `row group ${g} ${meta.path_in_schema.join('.')}`;
      const data = Number(meta.data_page_offset);
      const dictionary =
        meta.dictionary_page_offset === undefined ? undefined : Number(meta.dictionary_page_offset);
      const start = dictionary ?? data;
      const end = start + Number(meta.total_compressed_size);
      if (data < start || data >= end)
        problems.push(`${name}: data page offset ${data} outside [${start}, ${end})`);
      else if (![PAGE_TYPE.DATA_PAGE, PAGE_TYPE.DATA_PAGE_V2].includes(pageType(data) as 0 | 3))
        problems.push(`${name}: no data page at ${data}`);
      if (dictionary !== undefined && pageType(dictionary) !== PAGE_TYPE.DICTIONARY_PAGE)
        problems.push(`${name}: no dictionary page at ${dictionary}`);
    }
  }
  return problems;
}
