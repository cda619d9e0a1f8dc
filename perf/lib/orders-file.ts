import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { ValidProduct } from '../../src/domain/order-schema.js';
import type { OrderRow } from '../../src/storage/order-writer.js';

/** The non-empty lines of a dataset table (`<table>.ndjson` or `.ndjson.gz` in a tenant's folder), up to `max`. */
export async function* tableLines(dir: string, table: string, max = Infinity): AsyncGenerator<string> {
  let n = 0;
  const plain = join(dir, `${table}.ndjson`);
  const path = existsSync(plain) ? plain : `${plain}.gz`;
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  try {
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (n === max) break;
      if (line) {
        n++;
        yield line;
      }
    }
  } finally {
    raw.destroy();
  }
}

/** The first `max` orders of a tenant's dataset, parsed as the writer takes them (created_at in epoch ms). */
export async function readOrders(dir: string, max = Infinity): Promise<OrderRow[]> {
  const out: OrderRow[] = [];
  for await (const line of tableLines(dir, 'orders', max)) {
    const row = JSON.parse(line) as Omit<OrderRow, 'created_at'> & { created_at: string };
    out.push({ ...row, created_at: Date.parse(row.created_at) });
  }
  return out;
}

export async function readProducts(dir: string): Promise<Omit<ValidProduct, 'tenant_id'>[]> {
  const out: Omit<ValidProduct, 'tenant_id'>[] = [];
  for await (const line of tableLines(dir, 'products'))
    out.push({
      currency: 'USD',
      stock: 0,
      ...(JSON.parse(line) as Partial<Omit<ValidProduct, 'tenant_id'>>),
    } as Omit<ValidProduct, 'tenant_id'>);
  return out;
}
