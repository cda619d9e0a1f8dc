import type { Db } from './sqlite.js';

/** Product ids up to this map to their category through an array, larger ones through a Map. */
const DIRECT_MAX_ID = 1 << 20;

/**
 * The shard's categories in byte order (as SQLite sorts them) and each product's category's number (-1 for
 * an id no product has), read category by category from the covering category index (product ids only,
 * no string per row) into an array by product id (a Map past DIRECT_MAX_ID): on 500k products 145-159 ms
 * where reading (product_id, category) row by row from the table took 277-294 ms (docs/perf.md).
 * Products are insert-only and never change category, so a reader may keep it until it meets an id it
 * does not know.
 */
export function productCategories(db: Db): { names: string[]; of: (productId: number) => number } {
  const names = (db.prepare('SELECT DISTINCT category FROM products').pluck().all() as string[]).sort(
    (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  );
  const maxId =
    (db.prepare('SELECT coalesce(max(product_id), 0) FROM products').pluck().get() as number) ?? 0;
  const ids = db.prepare('SELECT product_id FROM products WHERE category = ?').pluck();
  const each = (set: (id: number, category: number) => void) =>
    names.forEach((name, category) => {
      for (const id of ids.iterate(name) as IterableIterator<number>) set(id, category);
    });
  if (maxId <= DIRECT_MAX_ID) {
    const byId = new Int32Array(maxId + 1).fill(-1);
    each((id, category) => {
      byId[id] = category;
    });
    return { names, of: (id) => (id <= maxId ? byId[id]! : -1) };
  }
  const byId = new Map<number, number>();
  each((id, category) => byId.set(id, category));
  return { names, of: (id) => byId.get(id) ?? -1 };
}

type ProductCategories = ReturnType<typeof productCategories>;

/** Per connection: the map, and the products' count and largest id it was read at. */
const kept = new WeakMap<Db, { count: number; maxId: number; categories: ProductCategories }>();

/**
 * `productCategories`, kept per connection while the products' count and largest id stay the same
 * (products are insert-only and never change category: a new one changes the count). Reading the map
 * took ~40 ms of every category scan on 50k products; the check is one count over the category index.
 */
export function cachedProductCategories(db: Db): ProductCategories {
  const { count, maxId } = db
    .prepare('SELECT count(*) AS count, coalesce(max(product_id), 0) AS maxId FROM products')
    .get() as { count: number; maxId: number };
  const known = kept.get(db);
  if (known && known.count === count && known.maxId === maxId) return known.categories;
  const categories = productCategories(db);
  kept.set(db, { count, maxId, categories });
  return categories;
}
