import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync } from 'parquet-wasm/esm';

/**
 * parquet-wasm, started from its ESM entry. Its Node entry reads the 5 MB `.wasm` file into a Buffer it
 * keeps for the thread's life, in every worker that writes Parquet; here the bytes are compiled and
 * dropped (V8 keeps one compiled module per process, shared by the threads that compile the same bytes).
 */
initSync({
  module: readFileSync(createRequire(import.meta.url).resolve('parquet-wasm/esm/parquet_wasm_bg.wasm')),
});

export {
  Compression,
  EnabledStatistics,
  Table,
  WriterPropertiesBuilder,
  writeParquet,
} from 'parquet-wasm/esm';
