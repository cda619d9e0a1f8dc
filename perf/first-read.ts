/**
 * The first sales read right after a bulk load, every grouping, both precisions (issue 19). For each case
 * a copy of the tenant's shard gets every hour marked dirty (`RollupBuilder.markAllDirty`: what a bulk load
 * leaves once its orders are folded in, the pre-aggregates still to rebuild), a server starts on it with
 * the default refresh policy (background: its upkeep thread starts rebuilding, a slice at a time, a second
 * after the server), and one request is timed, then the same request again.
 * DuckDB answers the same shapes on the same rows afterwards (perf/lib/duckdb-peer.ts), for the ratios.
 * The first read is timed once the server is idle after its start (its threads' modules loaded), as a server
 * that has just taken a load would be; `--no-wait-idle` times it as soon as /healthz answers.
 *   node dist/perf/first-read.js --data ./data-small [--out first-read] [--runs 3] [--shapes day,hour]
 * Prints a table and one JSON line; writes perf/results/<out>.json.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RollupBuilder } from '../src/storage/rollups.js';
import { shardDir, shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';
import { waitUntilIdle } from '../tools/lib/spawn-server.js';
import { duckdbOnTenant } from './lib/duckdb-peer.js';
import { round } from './lib/numbers.js';
import { recordResult } from './lib/results.js';
import {
  EVERY_PRODUCT_PARAMS,
  EVERY_SHAPE,
  fetchArrowAnswer,
  fetchJsonAnswer,
  firstTenant,
  metricsServer,
} from './lib/sales-server.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: './data-small' },
    workers: { type: 'string', default: '2' },
    out: { type: 'string', default: 'first-read' },
    /** DuckDB runs per shape (the median is reported) */
    runs: { type: 'string', default: '3' },
    /** the shapes whose name starts with one of these words (default: every shape) */
    shapes: { type: 'string' },
    /** time the first read as soon as the server answers /healthz, while it still starts its threads */
    'no-wait-idle': { type: 'boolean', default: false },
  },
});
const { tenantId, apiKey } = firstTenant(values.data!);

/** Every grouping: JSON answers, and every product's ranking as an Arrow stream read to its end. */
const wanted = values.shapes?.split(',');
const SHAPES = EVERY_SHAPE.filter(({ name }) => !wanted || wanted.some((w) => name.startsWith(w))).map(
  ({ name, params }) => [name, params ?? EVERY_PRODUCT_PARAMS, params === null] as const,
);

/** A copy of the data directory whose tenant has every hour of its pre-aggregates still to rebuild. */
function freshlyLoadedCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-first-read-'));
  mkdirSync(shardDir(dir), { recursive: true });
  for (const file of ['catalog.db', 'keys.json']) copyFileSync(join(values.data!, file), join(dir, file));
  copyFileSync(shardPath(values.data!, tenantId), shardPath(dir, tenantId));
  const db = openDatabase(shardPath(dir, tenantId));
  new RollupBuilder(db).markAllDirty();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  // the copy's dirty pages written back now: the kernel's writeback of ~600 MB would otherwise share the
  // two cores with the read being timed (the first case of a run measured up to twice the later ones)
  execFileSync('sync');
  return dir;
}

async function timedCall(url: string, params: string, arrow: boolean) {
  const answer = await (arrow ? fetchArrowAnswer : fetchJsonAnswer)(url, tenantId, apiKey, params);
  return { ms: answer.ms, meta: answer.meta };
}

// the source checkpointed once, so copying its main file copies every committed page
{
  const db = openDatabase(shardPath(values.data!, tenantId));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
const results: Record<string, unknown>[] = [];
for (const [shape, params, arrow] of SHAPES)
  for (const precision of ['approx', 'exact'] as const) {
    const dir = freshlyLoadedCopy();
    const server = await metricsServer(dir, values.workers!);
    try {
      // the client's connection opened (kept alive) before the clock runs: its cost, and fetch's first
      // use in this process (~36 ms measured), are the client's, not the server's first read
      await (await fetch(`${server.url}/healthz`)).arrayBuffer();
      // a read right after a load meets a server that has been running; one just started is still
      // loading its threads' modules on the same two cores (day by year: 298-366 ms read then, 190-234
      // once it is idle), so the clock starts once it is idle (--no-wait-idle: at once)
      const startupMs = values['no-wait-idle'] ? null : await waitUntilIdle(server.child.pid!);
      const first = await timedCall(server.url, `${params}&precision=${precision}`, arrow);
      const second = await timedCall(server.url, `${params}&precision=${precision}`, arrow);
      const freshness = first.meta.freshness as Record<string, unknown> | undefined;
      results.push({
        shape,
        precision,
        first_ms: first.ms,
        // the server's own time for the answer (meta.elapsed_ms): the rest is HTTP, JSON and a fresh server
        first_server_ms: first.meta.elapsed_ms ?? null,
        waited_for_idle_ms: startupMs,
        second_ms: second.ms,
        complete: freshness?.complete ?? null,
        stale_hours_in_range: freshness?.stale_hours_in_range ?? null,
        method: first.meta.method,
        policy: freshness?.policy ?? null,
      });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }

// DuckDB on the same rows, in the same run (after the servers: not beside them), the goal's yardstick:
// a first exact read within 3x DuckDB's exact time, a first approx read within its approx time
const duck = await duckdbOnTenant(values.data!, tenantId, Number(values.runs));
for (const r of results) {
  const peer = duck.shapes[r.shape as string]!;
  const duckMs = r.precision === 'exact' ? peer.exact_ms : peer.approx_ms;
  Object.assign(r, { duckdb_ms: duckMs, over_duckdb: round((r.first_ms as number) / duckMs) });
}
process.stdout.write(
  `| shape | precision | first read ms (server's own) | DuckDB ms (${duck.threads} threads) | first / DuckDB (goal: exact <= 3, approx <= 1) | complete | hours still to rebuild | second read ms | first read from | server idle after (ms) |\n`,
);
process.stdout.write('|---|---|---|---|---|---|---|---|---|---|\n');
for (const r of results)
  process.stdout.write(
    `| ${r.shape} | ${r.precision} | ${r.first_ms} (${r.first_server_ms}) | ${r.duckdb_ms} | ${r.over_duckdb} | ${r.complete} | ${r.stale_hours_in_range ?? ''} | ${r.second_ms} | ${String(r.method).split(' (')[0]} | ${r.waited_for_idle_ms ?? ''} |\n`,
  );
recordResult(values.out!, 'first-read', { data: values.data, duckdb_threads: duck.threads, results });
