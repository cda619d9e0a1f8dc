/**
 * Offline tenant administration on a data dir (the server may be running: the catalog is WAL, writes
 * wait on its busy timeout).
 *   npm run tenant -- create --name acme --data ./data   -> {"tenant_id":1,"api_key":"..."}
 *   npm run tenant -- list --data ./data
 *   npm run tenant -- key --tenant 1 --data ./data
 *   npm run tenant -- revoke --tenant 1 --key 2 --data ./data
 *   npm run tenant -- rebuild-rollups --tenant 1 --data ./data   (full rollup rebuild: every hour)
 *   npm run tenant -- journal-orders --tenant 1 --data ./data   (orders from before the order journal into it)
 *   npm run tenant -- check --tenant 1 [--quick] --data ./data   (PRAGMA integrity_check and the order journal
 *     against the tables; exit 1 if damaged)
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Catalog, TenantNameTaken } from '../src/storage/catalog.js';
import { checkJournal, journalBackfillStep, journalFrom } from '../src/storage/order-journal.js';
import { ALL_TIME, RollupBuilder } from '../src/storage/rollups.js';
import { checkShardFile } from '../src/storage/shard-check.js';
import { prepareShard, shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';

/**
 * A full rollup rebuild: every hour holding orders is marked dirty and rebuilt now, 48 hours per
 * transaction (a running server's writers wait at most one batch, within their busy timeout).
 */
function rebuildRollups(dataDir: string, tenantId: number) {
  prepareShard(dataDir, tenantId);
  const db = openDatabase(shardPath(dataDir, tenantId));
  try {
    const started = performance.now();
    const builder = new RollupBuilder(db);
    const marked = builder.markAllDirty();
    const done = builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
    return {
      hours_marked: marked,
      hours_rebuilt: done.hours,
      orders_read: done.rows,
      seconds: Math.round(performance.now() - started) / 1000,
    };
  } finally {
    db.close();
  }
}

/** Older orders taken into the journal per transaction by `journal-orders`. */
const OLDER_ORDERS_PER_STEP = 65_536;

/**
 * The orders a shard held before its order journal existed (sql/shard/020), taken into it 65,536 at a time,
 * newest first, each chunk one transaction (a running server's writers wait at most one chunk, within
 * their busy timeout); its exact scans read them from the journal from then on. Then its blocks from the journal's
 * first weeks are rewritten (split below 64 KiB, every order column), 64 at a time.
 */
function journalOrders(dataDir: string, tenantId: number) {
  prepareShard(dataDir, tenantId);
  const db = openDatabase(shardPath(dataDir, tenantId));
  try {
    const started = performance.now();
    const from = journalFrom(db);
    let rewritten = 0;
    for (let done = false; !done; ) {
      const step = journalBackfillStep(db, OLDER_ORDERS_PER_STEP);
      rewritten += step.rewritten;
      done = step.done;
    }
    return {
      journal_was_from_order_pk: from,
      journal_from_order_pk: journalFrom(db),
      old_blocks_rewritten: rewritten,
      seconds: Math.round(performance.now() - started) / 1000,
    };
  } finally {
    db.close();
  }
}

function journalCheckOf(path: string) {
  const db = openDatabase(path, { readonly: true });
  try {
    return checkJournal(db);
  } finally {
    db.close();
  }
}

const USAGE =
  'usage: tenant create --name NAME | list | key --tenant ID | revoke --tenant ID --key KEY_ID | rebuild-rollups --tenant ID | journal-orders --tenant ID | check --tenant ID [--quick]  [--data DIR]';

function fail(message: string, code = 2): never {
  process.stderr.write(`tenant: ${message}\n${USAGE}\n`);
  process.exit(code);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    data: { type: 'string', default: process.env.DATA_DIR ?? './data' },
    tenant: { type: 'string' },
    key: { type: 'string' },
    help: { type: 'boolean' },
    quick: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const catalog = new Catalog(resolve(values.data!));
const out = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const intFlag = (name: 'tenant' | 'key'): number => {
  const raw = values[name];
  if (!raw || !/^\d+$/.test(raw)) fail(`--${name} must be a positive integer`);
  return Number(raw);
};

try {
  switch (positionals[0]) {
    case 'create': {
      if (!values.name) fail('--name is required');
      const t = catalog.createTenant(values.name);
      out({ tenant_id: t.tenant_id, name: t.name, api_key: t.api_key, key_id: t.key_id });
      break;
    }
    case 'list':
      for (const t of catalog.tenants()) out(t);
      break;
    case 'key': {
      const tenantId = intFlag('tenant');
      if (!catalog.tenant(tenantId)) fail(`no tenant ${tenantId}`, 1);
      out({ tenant_id: tenantId, ...catalog.createKey(tenantId) });
      break;
    }
    case 'revoke':
      if (!catalog.revokeKey(intFlag('tenant'), intFlag('key'))) fail('no such active key', 1);
      out({ revoked: true });
      break;
    case 'rebuild-rollups': {
      const tenantId = intFlag('tenant');
      if (!catalog.tenant(tenantId)) fail(`no tenant ${tenantId}`, 1);
      out({ tenant_id: tenantId, ...rebuildRollups(resolve(values.data!), tenantId) });
      break;
    }
    case 'journal-orders': {
      const tenantId = intFlag('tenant');
      if (!catalog.tenant(tenantId)) fail(`no tenant ${tenantId}`, 1);
      out({ tenant_id: tenantId, ...journalOrders(resolve(values.data!), tenantId) });
      break;
    }
    case 'check': {
      const tenantId = intFlag('tenant');
      if (!catalog.tenant(tenantId)) fail(`no tenant ${tenantId}`, 1);
      const path = shardPath(resolve(values.data!), tenantId);
      const result = checkShardFile(path, values.quick ? 'quick' : 'full');
      // the order journal against the tables (a file too damaged to open has no journal to count)
      const journal = result.ok ? journalCheckOf(path) : null;
      out({ tenant_id: tenantId, ...result, ...(journal ? { journal } : {}) });
      if (!result.ok || (journal && !journal.ok)) process.exitCode = 1;
      break;
    }
    default:
      fail(`unknown command "${positionals[0] ?? ''}"`);
  }
} catch (error) {
  if (error instanceof TenantNameTaken) fail(`tenant "${values.name}" already exists`, 1);
  throw error;
} finally {
  catalog.close();
}
