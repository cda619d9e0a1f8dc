import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { fastValidOrder } from '../../src/domain/order-fast-path.js';
import { OrderSchema, type ValidOrder } from '../../src/domain/order-schema.js';
import { toOrderRecord } from '../../src/storage/order-record.js';
import { order } from '../helpers/data.js';
import { random } from '../helpers/random.js';

type Order = Record<string, unknown> & { items: Record<string, unknown>[] };

const WRONG_TYPES: unknown[] = [null, 0, 1.5, -1, '', '1', true, [], {}, ['x'], { a: 1 }];
const IDS = ['', 'a', 'x'.repeat(64), 'x'.repeat(65), 'has space', 'tab\tid', 'é', '~!@#', '\u007f', ' A-1 '];
const TEXTS = [
  '',
  '   ',
  ' Ada ',
  '\tAda\n',
  'a'.repeat(200),
  'a'.repeat(201),
  ` ${'a'.repeat(200)} `,
  '\ud800x',
  'x\udc00',
  '😀 emoji',
  'Zoë “Ω” 北京',
  '\u00a0nbsp\u00a0',
];
const EMAILS = [
  'ada@example.com',
  ' ada@example.com ',
  'ada@example',
  'ada@@example.com',
  'a.b+c-d@sub.example.co',
  'ada@exa_mple.com',
  `${'a'.repeat(243)}@example.com`,
  `${'a'.repeat(242)}@example.com`,
  'ådå@example.com',
  '.ada@example.com',
  'ada@example.c',
  '',
];
const STATUSES = ['paid', 'PAID', 'refunded', 'cancelled', 'unknown', 'pending ', 'delivered', 'shipped'];
const CURRENCIES = ['USD', 'EUR', 'usd', 'US', 'USDD', ' USD', '€€€'];
const DATES = [
  '2026-03-01T10:15:00Z',
  '2026-03-01T10:15:00.123456789Z',
  '2026-03-01T10:15Z',
  '2026-03-01T10:15:00+02:00',
  '2026-03-01T10:15:00-11:30',
  '2026-03-01',
  '2026-02-29T00:00:00Z',
  '2028-02-29T00:00:00Z',
  '2100-02-29T00:00:00Z',
  '2000-02-29T00:00:00Z',
  '2025-02-30T00:00:00Z',
  '2025-04-31T00:00:00Z',
  '2025-13-01T00:00:00Z',
  '2025-12-31T24:00:00Z',
  '2025-12-31T23:60:00Z',
  '2025-12-31T23:59:60Z',
  '2025-06-01T00:00:00+24:00',
  '1969-12-31T23:59:59Z',
  '1970-01-01T00:00:00Z',
  '1970-01-01T00:30:00+01:00',
  '2199-12-31T23:59:59.999Z',
  '2200-01-01T00:00:00Z',
  '0099-01-01T00:00:00Z',
  '2026-3-1T10:15:00Z',
  'yesterday',
];
const INTS = [0, 1, -1, 2.5, 1e13, 1e13 + 1, 1_000_000, 1_000_001, Number.MAX_SAFE_INTEGER, 2 ** 53, -0];

/** One change to an order, of the kinds a client gets wrong: a missing or mistyped field, an edge value. */
function mutate(o: Order, pick: <T>(xs: readonly T[]) => T): void {
  const field = pick([...Object.keys(OrderSchema.entries), 'item', 'extra']);
  const kind = pick(['delete', 'wrong', 'edge', 'edge', 'edge']);
  if (field === 'extra') {
    o[pick(['note', '__proto__', 'constructor', 'line'])] = pick(WRONG_TYPES);
    return;
  }
  if (field === 'item') {
    const item = Array.isArray(o.items) ? o.items[0] : undefined;
    if (!item || typeof item !== 'object') return;
    const key = pick(['product_id', 'quantity', 'unit_price_cents', 'sku']);
    if (kind === 'delete') delete item[key];
    else item[key] = kind === 'wrong' ? pick(WRONG_TYPES) : pick(INTS);
    return;
  }
  if (kind === 'delete') {
    delete o[field];
    return;
  }
  if (kind === 'wrong') {
    o[field] = pick(WRONG_TYPES);
    return;
  }
  const edges: Record<string, () => unknown> = {
    order_id: () => pick(IDS),
    customer_id: () => pick(IDS),
    customer_name: () => pick(TEXTS),
    customer_email: () => pick(EMAILS),
    status: () => pick(STATUSES),
    currency: () => pick(CURRENCIES),
    created_at: () => pick(DATES),
    total_cents: () => pick(INTS),
    tenant_id: () => pick([1, 2, 1.5, '1', null]),
    items: () =>
      pick([
        [],
        Array.from({ length: 1000 }, (_, i) => ({ product_id: i + 1, quantity: 1, unit_price_cents: 1 })),
        Array.from({ length: 1001 }, (_, i) => ({ product_id: i + 1, quantity: 1, unit_price_cents: 1 })),
        [null],
        [[1, 2, 3]],
        [{ product_id: 1, quantity: 1, unit_price_cents: 0, extra: 'kept out' }],
        'not a list',
      ]),
  };
  o[field] = edges[field]!();
}

/** What the two checks make of the same input, each on its own copy (the fast path edits in place). */
function both(input: Order) {
  const fast = fastValidOrder(structuredClone(input));
  const schema = v.safeParse(OrderSchema, structuredClone(input));
  return { fast, schema };
}

describe('the hand-written order check of the ingest hot path', () => {
  it('accepts a valid order with the schema’s output: trimmed text, created_at in epoch ms', () => {
    const input = order(5, { customer_name: '  Zoë “Ω” 北京 ', customer_email: ' ada@example.com\t' });
    const { fast, schema } = both(input as Order);
    expect(fast).toBeDefined();
    expect(schema.success).toBe(true);
    expect(toOrderRecord(fast!)).toEqual(toOrderRecord(schema.output as ValidOrder));
    expect(fast!.customer_name).toBe('Zoë “Ω” 北京');
    expect(fast!.created_at).toBe(Date.UTC(2026, 2, 1) + 5 * 60_000);
  });

  it('accepts exactly what the schema accepts, with the same record, on 20,000 mutated orders', () => {
    const rand = random(20261130);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    let accepted = 0;
    let refused = 0;
    for (let n = 0; n < 20_000; n++) {
      const input = structuredClone(order(n)) as Order;
      const changes = Math.floor(rand() * 3);
      for (let c = 0; c < changes; c++) mutate(input, pick);
      const { fast, schema } = both(input);
      const label = `case ${n}: ${JSON.stringify(input).slice(0, 300)}`;
      expect(fast !== undefined, label).toBe(schema.success);
      if (fast === undefined) {
        refused++;
        continue;
      }
      accepted++;
      expect(toOrderRecord(fast), label).toEqual(toOrderRecord(schema.output as ValidOrder));
    }
    // both sides of the comparison are exercised in earnest
    expect(accepted).toBeGreaterThan(5_000);
    expect(refused).toBeGreaterThan(5_000);
  });
});
