import { expect } from 'vitest';
import { ndjson, product } from './data.js';
import { auth, type TestServer } from './server.js';

const DAY = 86_400_000;
const FIRST_DAY = Date.UTC(2026, 0, 1);

/** An order of the console tests' tenant: spread over 60 days, varied customers, statuses, products, amounts. */
export function seedOrder(n: number, prefix = 'S') {
  const quantity = 1 + (n % 4);
  const unit = 500 + ((n * 37) % 5000);
  const statuses = ['paid', 'paid', 'shipped', 'delivered', 'pending', 'refunded'];
  const names = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov'];
  const c = n % 211;
  return {
    order_id: `${prefix}-${n}`,
    customer_id: `C-${c}`,
    customer_name: `${names[c % names.length]} ${c}`,
    customer_email: `customer${c}@example.com`,
    status: statuses[n % statuses.length],
    currency: 'USD',
    created_at: new Date(FIRST_DAY + ((n * 7919) % (60 * 24)) * (DAY / 24) + (n % 60) * 60_000).toISOString(),
    total_cents: quantity * unit,
    items: [{ product_id: 1 + (n % 40), quantity, unit_price_cents: unit }],
  };
}

/** A tenant with 40 products (price 10.00) and `orders` orders, loaded through the ingest API. */
export async function seedConsoleTenant(server: TestServer, name: string, orders: number) {
  const tenant = await server.createTenant(name);
  for (const [path, body] of [
    [
      '/api/v1/ingest/products/',
      ndjson(Array.from({ length: 40 }, (_, i) => product(i + 1, { price_cents: 1000 }))),
    ],
    ['/api/v1/ingest/orders/', ndjson(Array.from({ length: orders }, (_, n) => seedOrder(n)))],
  ] as const) {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: auth(tenant.api_key, { 'content-type': 'application/x-ndjson' }),
      body,
    });
    expect(res.status).toBe(200);
  }
  return tenant;
}

/** Orders (exact) from `start` to `end`, both days included, as the console's sales totals count them. */
export async function ordersInRange(
  server: TestServer,
  tenant: { tenant_id: number; api_key: string },
  start: string,
  end: string,
) {
  const next = new Date(Date.parse(`${end}T00:00:00Z`) + DAY).toISOString().slice(0, 10);
  const res = await fetch(
    `${server.url}/api/v1/tenants/${tenant.tenant_id}/metrics/sales?group_by=day&start_date=${start}&end_date=${next}&precision=exact`,
    { headers: auth(tenant.api_key) },
  );
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: { orders: number }[] };
  return body.data.reduce((s, b) => s + b.orders, 0);
}
