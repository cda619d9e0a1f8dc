/**
 * How validated rows should travel from the parse stage (a pool worker) to the writer lane: what the
 * lane pays to turn a chunk's bytes back into rows, for each encoding, on a chunk of real orders; and what
 * the parse stage pays per chunk, with the hand-written order check and with the schema alone.
 *   node dist/perf/row-transfer.js --dataset ./datasets/small [--rows 2000]
 * Prints a table and one JSON line; writes perf/results/row-transfer.json.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import { Bench } from 'tinybench';
import * as v from 'valibot';
import { fastValidOrder } from '../src/domain/order-fast-path.js';
import { OrderSchema } from '../src/domain/order-schema.js';
import { parseChunk, parseForWrite } from '../src/ingest/ingest-chunk.js';
import { batchOf, decodeBatch, encodeBatch } from '../src/ingest/row-transfer.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    rows: { type: 'string', default: '2000' },
  },
});
const rows = Number(values.rows);

const lines: string[] = [];
for await (const line of createInterface({
  input: createReadStream(join(tenantDir(values.dataset!, 1), 'orders.ndjson')),
})) {
  lines.push(line);
  if (lines.length === rows) break;
}
const bytes = new TextEncoder().encode(`${lines.join('\n')}\n`);
const { valid } = parseChunk(
  { obs: { record() {} } as never },
  { requestId: 'perf', tenantId: 1, kind: 'orders', bytes, firstLine: 1, batchRows: rows, maxErrors: 10 },
);

const decoder = new TextDecoder();
const keyed = new TextEncoder().encode(JSON.stringify(valid));
const positional = encodeBatch(batchOf('orders', valid));
const cloned = serialize(valid);

const bench = new Bench({ time: 1000 });
bench
  .add('order records as JSON (what the lane decodes)', () => decodeBatch('orders', positional))
  .add('keyed JSON (the validated objects)', () => JSON.parse(decoder.decode(keyed)))
  .add('structured clone (v8 deserialize)', () => deserialize(cloned))
  .add('the pool stage as it runs: parse, check, encode (parseForWrite)', () =>
    parseForWrite(
      { obs: { record() {} } as never },
      { requestId: 'perf', tenantId: 1, kind: 'orders', bytes, firstLine: 1, batchRows: rows, maxErrors: 10 },
    ),
  )
  .add('JSON.parse + the hand-written check, per line', () => {
    for (const line of lines) fastValidOrder(JSON.parse(line) as Record<string, unknown>);
  })
  .add('JSON.parse + the valibot schema, per line', () => {
    for (const line of lines) v.safeParse(OrderSchema, JSON.parse(line));
  });
await bench.run();

const sizes = [positional.length, keyed.length, cloned.length, bytes.length, bytes.length, bytes.length];
const results = bench.tasks.map((t, i) => {
  const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
  const mean = r?.latency?.mean ?? r?.mean ?? Number.NaN;
  return { encoding: t.name, mean_ms: Math.round(mean * 100) / 100, bytes: sizes[i]! };
});
const result = { benchmark: 'row-transfer', at: new Date().toISOString(), env: machine(), rows, results };
writeResult('row-transfer', result);
process.stdout.write(
  [
    `| ${rows} orders | mean ms | bytes |`,
    '|---|---|---|',
    ...results.map((r) => `| ${r.encoding} | ${r.mean_ms} | ${r.bytes} |`),
    '',
  ].join('\n'),
);
process.stdout.write(`${JSON.stringify({ benchmark: 'row-transfer', rows, results })}\n`);
