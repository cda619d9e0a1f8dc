/**
 * What folding new orders into the sales pre-aggregates costs (issue 19: a steady ingest's freshness): on a
 * copy of a loaded tenant's shard whose pre-aggregates are whole, the watermark is moved back by N orders
 * and `RollupBuilder.applyPending` folds them in as deltas, as the upkeep thread or a read does under a
 * trickle. Two shapes of the same N orders (the shard's newest by order_pk):
 *   - `year`: their own dates, spread over the year as the dataset has them (a backfill's trickle);
 *   - `day`: moved to the newest day that has orders (a live shop's trickle: every order of today).
 * The rows already count those orders, so the answers double them: this measures time only.
 *   node dist/perf/rollup-delta.js --data ./data-small [--orders 50,250,1000] [--shapes year,day] [--runs 2]
 *     [--dir /tmp] [--out rollup-delta]
 * Prints a table and one JSON line; writes perf/results/<out>.json.
 */
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DAY } from '../src/domain/sales.js';
import { RollupBuilder } from '../src/storage/rollups.js';
import { shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';
import { percentile, round } from './lib/numbers.js';
import { recordResult } from './lib/results.js';
import { firstTenant } from './lib/sales-server.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: './data-small' },
    orders: { type: 'string', default: '50,250,1000' },
    shapes: { type: 'string', default: 'year,day' },
    runs: { type: 'string', default: '2' },
    dir: { type: 'string', default: '/tmp' },
    out: { type: 'string', default: 'rollup-delta' },
  },
});

type Shape = 'year' | 'day';
const { tenantId } = firstTenant(values.data!);
const source = shardPath(values.data!, tenantId);
if (existsSync(`${source}-wal`))
  throw new Error(`${source}-wal exists: stop the server (or checkpoint) first`);
const copy = join(values.dir!, `rollup-delta-${process.pid}.db`);

/** One fold of the shard's newest `n` orders, in the shape asked for, on a fresh copy; its milliseconds. */
function foldOnce(n: number, shape: Shape): { ms: number; mode: string } {
  copyFileSync(source, copy);
  const db = openDatabase(copy);
  try {
    const { pk } = db.prepare('SELECT order_pk AS pk FROM rollup_watermark WHERE id = 1').get() as {
      pk: number;
    };
    const from = pk - n;
    db.prepare('UPDATE rollup_watermark SET order_pk = ? WHERE id = 1').run(from);
    if (shape === 'day') {
      const { newest } = db.prepare('SELECT max(created_at) AS newest FROM orders').get() as {
        newest: number;
      };
      const day = Math.floor(newest / DAY) * DAY;
      // each order keeps its time of day, on the newest day
      db.prepare(`UPDATE orders SET created_at = ? + created_at % ${DAY} WHERE order_pk > ?`).run(day, from);
    }
    const builder = new RollupBuilder(db);
    const t0 = performance.now();
    const result = builder.applyPending(Math.max(n, 1000));
    const ms = performance.now() - t0;
    if (result.mode !== 'delta' || result.orders !== n) throw new Error(`folded ${JSON.stringify(result)}`);
    return { ms, mode: result.mode };
  } finally {
    db.close();
    rmSync(copy, { force: true });
    rmSync(`${copy}-wal`, { force: true });
    rmSync(`${copy}-shm`, { force: true });
  }
}

const counts = values.orders!.split(',').map(Number);
const shapes = values.shapes!.split(',') as Shape[];
const runs = Number(values.runs);
const times = new Map<string, number[]>();
for (let run = 0; run < runs; run++)
  for (const shape of shapes)
    for (const n of counts) {
      const key = `${shape}\t${n}`;
      const list = times.get(key) ?? [];
      list.push(foldOnce(n, shape).ms);
      times.set(key, list);
    }

const cases = [...times].map(([key, ms]) => {
  const [shape, n] = key.split('\t') as [Shape, string];
  const orders = Number(n);
  const med = percentile(ms, 50);
  return {
    shape,
    orders,
    ms: ms.map((t) => round(t, 1)),
    median_ms: round(med, 1),
    us_per_order: round((med * 1000) / orders, 0),
  };
});
console.log('| shape | orders folded | ms (each run) | µs per order (median) |');
console.log('|---|---|---|---|');
for (const c of cases) console.log(`| ${c.shape} | ${c.orders} | ${c.ms.join(' / ')} | ${c.us_per_order} |`);
recordResult(values.out!, 'rollup-delta', { data: values.data, tenant_id: tenantId, runs, cases });
