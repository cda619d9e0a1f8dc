import { describe, expect, it } from 'vitest';
import { ProductWriter } from '../../src/storage/order-writer.js';
import { cachedProductCategories } from '../../src/storage/product-categories.js';
import { product } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

describe('each product’s category, kept per connection', () => {
  const { db } = testShard('product-categories');
  const writer = new ProductWriter(db);
  const add = (id: number, category: string) =>
    writer.writeBatch([{ ...product(id, { category }), currency: 'USD' }]);

  it('is read once while the products stay the same', () => {
    expect(cachedProductCategories(db)).toBe(cachedProductCategories(db));
  });

  it('is read again once a product is added, above the largest id or below it', () => {
    const before = cachedProductCategories(db);
    add(100_000, 'hats');
    const after = cachedProductCategories(db);
    expect(after).not.toBe(before);
    expect(after.names[after.of(100_000)]).toBe('hats');
    add(50_000, 'scarves'); // the largest id unchanged: the count tells
    const again = cachedProductCategories(db);
    expect(again).not.toBe(after);
    expect(again.names[again.of(50_000)]).toBe('scarves');
    expect(cachedProductCategories(db)).toBe(again);
  });
});
