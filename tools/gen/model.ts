import type { ValidProduct } from '../../src/domain/order-schema.js';
import { cumulative, Rng } from './rng.js';

export interface GenOptions {
  tenants: number;
  products: number;
  orders: number;
  itemsPerOrder: number;
  priceSamples: number;
  stockEvents: number;
  seed: number;
  /** Orders span [start, start + days). */
  start: number;
  days: number;
}

export const PRESETS = {
  tiny: { tenants: 2, products: 200, orders: 2_000, itemsPerOrder: 3, priceSamples: 10, stockEvents: 2_000 },
  small: {
    tenants: 1,
    products: 50_000,
    orders: 1_000_000,
    itemsPerOrder: 3,
    priceSamples: 20,
    stockEvents: 500_000,
  },
  medium: {
    tenants: 4,
    products: 200_000,
    orders: 1_000_000,
    itemsPerOrder: 3,
    priceSamples: 50,
    stockEvents: 1_000_000,
  },
  full: {
    tenants: 10,
    products: 500_000,
    orders: 2_000_000,
    itemsPerOrder: 3,
    priceSamples: 100,
    stockEvents: 2_000_000,
  },
} as const;
export type PresetName = keyof typeof PRESETS;

export const DEFAULT_START = Date.UTC(2025, 0, 1);
const DAY = 86_400_000;

const CATEGORIES = [
  'shoes',
  'shirts',
  'jackets',
  'bags',
  'watches',
  'jewelry',
  'toys',
  'books',
  'games',
  'phones',
  'laptops',
  'audio',
  'cameras',
  'kitchen',
  'garden',
  'tools',
  'beauty',
  'health',
  'sports',
  'outdoor',
  'pets',
  'baby',
  'furniture',
  'lighting',
  'office',
  'music',
  'movies',
  'grocery',
  'coffee',
  'wine',
];
const CATEGORY_WEIGHTS = cumulative(CATEGORIES.map((_, i) => 1 / (i + 1) ** 0.8));
const ADJECTIVES = [
  'Classic',
  'Urban',
  'Nordic',
  'Vintage',
  'Smart',
  'Eco',
  'Pro',
  'Mini',
  'Ultra',
  'Soft',
  'Bold',
  'Swift',
  'Lunar',
  'Solar',
  'Royal',
  'Wild',
];
const NOUNS = [
  'Runner',
  'Tote',
  'Lamp',
  'Kettle',
  'Speaker',
  'Backpack',
  'Mug',
  'Chair',
  'Watch',
  'Hoodie',
  'Drone',
  'Blender',
  'Desk',
  'Puzzle',
  'Kit',
  'Set',
];
const FIRST = [
  'Ada',
  'Alan',
  'Grace',
  'Linus',
  'Margaret',
  'Dennis',
  'Barbara',
  'Ken',
  'Frances',
  'Edsger',
  'Radia',
  'Donald',
  'Hedy',
  'Tim',
  'Katherine',
  'John',
  'Sophie',
  'Niklaus',
  'Jean',
  'Élodie',
  'Björn',
  'Zoë',
  'Mateo',
  'Aiko',
  'Priya',
  'Chen',
  'Olu',
  'Fatima',
  'Ivan',
  'Lucía',
];
const LAST = [
  'Lovelace',
  'Turing',
  'Hopper',
  'Torvalds',
  'Hamilton',
  'Ritchie',
  'Liskov',
  'Thompson',
  'Allen',
  'Dijkstra',
  'Perlman',
  'Knuth',
  'Lamarr',
  'Berners-Lee',
  'Johnson',
  'McCarthy',
  'Wilson',
  'Wirth',
  'Sammet',
  'Müller',
  'García',
  'Nakamura',
  'Patel',
  'Okafor',
  "O'Brien",
  'Kowalski',
  'Silva',
  'Nguyen',
  'Haddad',
  'Larsen',
];
const DOMAINS = ['example.com', 'mail.test', 'shop.example', 'inbox.test'];
const STATUSES = ['paid', 'shipped', 'delivered', 'pending', 'cancelled', 'refunded'] as const;
const STATUS_WEIGHTS = cumulative([45, 20, 25, 4, 4, 2]);
/** Orders by hour of day (UTC): quiet nights, a lunch bump, an evening peak. */
const HOUR_WEIGHTS = cumulative([2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 7, 8, 9, 8, 7, 7, 8, 9, 11, 13, 14, 12, 8, 4]);

/** A product exactly as the products ingest endpoint takes it. */
export type Product = Omit<ValidProduct, 'tenant_id'>;

export interface Order {
  order_id: string;
  customer_id: string;
  customer_name: string;
  customer_email: string;
  status: (typeof STATUSES)[number];
  currency: string;
  created_at: string;
  total_cents: number;
  items: { product_id: number; quantity: number; unit_price_cents: number }[];
}

export interface PriceSample {
  product_id: number;
  observed_at: string;
  price_cents: number;
}

export interface StockEvent {
  event_id: string;
  product_id: number;
  delta: number;
  occurred_at: string;
  stock_after: number;
  version_after: number;
}

/** Independent PRNG stream per tenant and table, so tables can be generated in any order. */
function rngFor(o: GenOptions, tenant: number, table: number): Rng {
  return new Rng(o.seed, tenant * 16 + table);
}

function hash32(n: number, salt: number): number {
  let z = Math.imul(n ^ salt, 0x9e3779b1);
  z = Math.imul(z ^ (z >>> 15), 0x85ebca6b);
  return (z ^ (z >>> 13)) >>> 0;
}

/** Everything about one tenant that generators share: product prices and a popularity ranking. */
export class TenantModel {
  readonly prices: Int32Array;
  readonly initialStock: Int32Array;
  /** popularity rank -> product id (a shuffled permutation, so popular ids are not just the low ones) */
  private readonly byRank: Int32Array;
  readonly customerCount: number;
  private readonly dayWeights: number[];

  constructor(
    readonly o: GenOptions,
    readonly tenant: number,
  ) {
    const rng = rngFor(o, tenant, 0);
    this.prices = new Int32Array(o.products + 1);
    this.initialStock = new Int32Array(o.products + 1);
    for (let id = 1; id <= o.products; id++) {
      const dollars = Math.exp(Math.log(25) + 0.9 * rng.normal());
      this.prices[id] = Math.min(500_000, Math.max(99, Math.round(dollars) * 100 - 1));
      this.initialStock[id] = rng.int(0, 300);
    }
    this.byRank = new Int32Array(o.products);
    for (let i = 0; i < o.products; i++) this.byRank[i] = i + 1;
    for (let i = o.products - 1; i > 0; i--) {
      const j = rng.int(0, i);
      const t = this.byRank[i]!;
      this.byRank[i] = this.byRank[j]!;
      this.byRank[j] = t;
    }
    // Repeat buyers: about one distinct customer per three orders, with a heavy head of loyal customers.
    this.customerCount = Math.max(10, Math.round(o.orders * 0.3));
    this.dayWeights = cumulative(
      Array.from({ length: o.days }, (_, d) => {
        const date = new Date(o.start + d * DAY);
        const dow = date.getUTCDay();
        const month = date.getUTCMonth();
        const weekly = dow === 0 || dow === 6 ? 1.3 : dow === 1 ? 0.9 : 1;
        const season = month === 10 || month === 11 ? 1.5 : 1;
        const trend = 1 + (0.3 * d) / o.days;
        return weekly * season * trend;
      }),
    );
  }

  /** A product id with skewed popularity (roughly Zipf-like). */
  popularProduct(rng: Rng): number {
    return this.byRank[Math.floor(this.o.products * rng.float() ** 2.5)]!;
  }

  product(id: number): Product {
    const h = hash32(id, this.tenant);
    const catRng = new Rng(h, 7);
    return {
      product_id: id,
      sku: `SKU-${this.tenant}-${id}`,
      name: `${ADJECTIVES[h % ADJECTIVES.length]} ${NOUNS[(h >>> 8) % NOUNS.length]} ${id}`,
      category: CATEGORIES[catRng.weighted(CATEGORY_WEIGHTS)]!,
      price_cents: this.prices[id]!,
      currency: 'USD',
      stock: this.initialStock[id]!,
    };
  }

  customer(n: number): { customer_id: string; customer_name: string; customer_email: string } {
    const h = hash32(n, 0x5eed ^ this.tenant);
    const first = FIRST[h % FIRST.length]!;
    const last = LAST[(h >>> 8) % LAST.length]!;
    const local = `${first}.${last}`
      .normalize('NFD')
      .replace(/[^A-Za-z.]/g, '')
      .toLowerCase();
    return {
      customer_id: `C-${n}`,
      customer_name: `${first} ${last}`,
      customer_email: `${local}.${n}@${DOMAINS[(h >>> 16) % DOMAINS.length]}`,
    };
  }

  *orders(): Generator<Order> {
    const rng = rngFor(this.o, this.tenant, 2);
    const extra = Math.max(0, this.o.itemsPerOrder - 1) * 2;
    for (let i = 1; i <= this.o.orders; i++) {
      const day = rng.weighted(this.dayWeights);
      const hour = rng.weighted(HOUR_WEIGHTS);
      const at = this.o.start + day * DAY + hour * 3_600_000 + rng.int(0, 3_599_999);
      let count = 1;
      for (let k = 0; k < extra; k++) if (rng.float() < 0.5) count++;
      const items: Order['items'] = [];
      const seen = new Set<number>();
      let total = 0;
      for (let k = 0; k < count; k++) {
        const product_id = this.popularProduct(rng);
        if (seen.has(product_id)) continue;
        seen.add(product_id);
        const q = rng.float();
        const quantity = q < 0.7 ? 1 : q < 0.9 ? 2 : rng.int(3, 5);
        const discount = rng.float() < 0.15 ? 0.9 : 1;
        const unit_price_cents = Math.round(this.prices[product_id]! * discount);
        items.push({ product_id, quantity, unit_price_cents });
        total += quantity * unit_price_cents;
      }
      const customerRank = Math.floor(this.customerCount * rng.float() ** 1.6);
      yield {
        order_id: `T${this.tenant}-O${i}`,
        ...this.customer(customerRank + 1),
        status: STATUSES[rng.weighted(STATUS_WEIGHTS)]!,
        currency: 'USD',
        created_at: new Date(at).toISOString(),
        total_cents: total,
        items,
      };
    }
  }

  /** A random walk per product with rare spikes (they exercise anomaly detection). */
  *priceHistory(): Generator<PriceSample> {
    const rng = rngFor(this.o, this.tenant, 3);
    const span = this.o.days * DAY;
    const n = this.o.priceSamples;
    for (let id = 1; id <= this.o.products; id++) {
      let price = this.prices[id]!;
      for (let k = 0; k < n; k++) {
        price = Math.max(99, Math.round(price * Math.exp(0.02 * rng.normal())));
        const r = rng.float();
        const shown =
          r < 0.01
            ? Math.round(price * (1.3 + 0.7 * rng.float()))
            : r < 0.02
              ? Math.round(price * (0.5 + 0.2 * rng.float()))
              : price;
        const at = this.o.start + Math.floor(((k + rng.float()) * span) / n);
        yield { product_id: id, observed_at: new Date(at).toISOString(), price_cents: shown };
      }
    }
  }

  /** Sales (small decrements) and restocks over the year; stock never goes negative. */
  *stockEvents(): Generator<StockEvent> {
    const rng = rngFor(this.o, this.tenant, 4);
    const stock = Int32Array.from(this.initialStock);
    const version = new Int32Array(this.o.products + 1);
    const span = this.o.days * DAY;
    const total = this.o.stockEvents;
    for (let i = 0; i < total; i++) {
      const product_id = this.popularProduct(rng);
      let delta = rng.float() < 0.85 ? -rng.int(1, 3) : rng.int(20, 200);
      if (stock[product_id]! + delta < 0) delta = rng.int(20, 200);
      stock[product_id]! += delta;
      version[product_id]!++;
      yield {
        event_id: `T${this.tenant}-S${i + 1}`,
        product_id,
        delta,
        occurred_at: new Date(this.o.start + Math.floor(((i + rng.float()) * span) / total)).toISOString(),
        stock_after: stock[product_id]!,
        version_after: version[product_id]!,
      };
    }
  }
}
