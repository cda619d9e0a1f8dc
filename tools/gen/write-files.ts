import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { csvRow } from '../../src/domain/csv.js';
import type { GenOptions } from './model.js';
import { TenantModel } from './model.js';
import { DatasetFile } from './output.js';

export type Format = 'ndjson' | 'csv' | 'both';

export interface TableCount {
  table: string;
  rows: number;
}

export function tenantDir(out: string, tenant: number): string {
  return join(out, `tenant-${String(tenant).padStart(2, '0')}`);
}

/** The files of one tenant: <table>.ndjson and/or <table>.csv (+ order_items.csv), optionally .gz. */
export async function writeTenantFiles(
  o: GenOptions,
  tenant: number,
  out: string,
  format: Format,
  gzip: boolean,
): Promise<TableCount[]> {
  const dir = tenantDir(out, tenant);
  mkdirSync(dir, { recursive: true });
  const model = new TenantModel(o, tenant);
  const ext = gzip ? '.gz' : '';
  const ndjson = format !== 'csv';
  const csv = format !== 'ndjson';
  const open = (name: string) => new DatasetFile(join(dir, `${name}${ext}`), gzip);
  const counts: TableCount[] = [];

  async function table<T extends object>(
    name: string,
    rows: Iterable<T>,
    header: string[],
    toCsv: (row: T) => unknown[],
    extraCsv?: { name: string; header: string[]; rows: (row: T) => unknown[][] },
  ): Promise<void> {
    const nd = ndjson ? open(`${name}.ndjson`) : null;
    const cs = csv ? open(`${name}.csv`) : null;
    const ex = csv && extraCsv ? open(`${extraCsv.name}.csv`) : null;
    await cs?.line(csvRow(header));
    if (ex && extraCsv) await ex.line(csvRow(extraCsv.header));
    let n = 0;
    for (const row of rows) {
      n++;
      await nd?.line(`${JSON.stringify(row)}\n`);
      await cs?.line(csvRow(toCsv(row)));
      if (ex && extraCsv) for (const r of extraCsv.rows(row)) await ex.line(csvRow(r));
    }
    await Promise.all([nd?.close(), cs?.close(), ex?.close()]);
    counts.push({ table: name, rows: n });
  }

  function* products() {
    for (let id = 1; id <= o.products; id++) yield model.product(id);
  }
  await table(
    'products',
    products(),
    ['product_id', 'sku', 'name', 'category', 'price_cents', 'currency', 'stock'],
    (p) => [p.product_id, p.sku, p.name, p.category, p.price_cents, p.currency, p.stock],
  );
  let items = 0;
  function* orders() {
    for (const order of model.orders()) {
      items += order.items.length;
      yield order;
    }
  }
  await table(
    'orders',
    orders(),
    [
      'order_id',
      'customer_id',
      'customer_name',
      'customer_email',
      'status',
      'currency',
      'created_at',
      'total_cents',
    ],
    (r) => [
      r.order_id,
      r.customer_id,
      r.customer_name,
      r.customer_email,
      r.status,
      r.currency,
      r.created_at,
      r.total_cents,
    ],
    {
      name: 'order_items',
      header: ['order_id', 'line_no', 'product_id', 'quantity', 'unit_price_cents'],
      rows: (r) =>
        r.items.map((it, i) => [r.order_id, i + 1, it.product_id, it.quantity, it.unit_price_cents]),
    },
  );
  counts.push({ table: 'order_items', rows: items });
  await table('price_history', model.priceHistory(), ['product_id', 'observed_at', 'price_cents'], (r) => [
    r.product_id,
    r.observed_at,
    r.price_cents,
  ]);
  await table(
    'stock_events',
    model.stockEvents(),
    ['event_id', 'product_id', 'delta', 'occurred_at', 'stock_after', 'version_after'],
    (r) => [r.event_id, r.product_id, r.delta, r.occurred_at, r.stock_after, r.version_after],
  );
  return counts;
}
