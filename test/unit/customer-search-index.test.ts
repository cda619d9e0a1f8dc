import { describe, expect, it } from 'vitest';
import { order } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

/**
 * The customers' full-text index is kept by the writer, not by an insert trigger (sql/shard/022): new
 * customers are indexed by one statement in their write's transaction, changed ones by the update trigger.
 */
describe("the customers' full-text index", () => {
  const shard = testShard('customer-search-index');
  const matches = (term: string) =>
    (
      shard.db
        .prepare('SELECT rowid FROM customers_fts WHERE customers_fts MATCH ? ORDER BY rowid')
        .all(`"${term}"*`) as { rowid: number }[]
    ).map((r) => r.rowid);
  const pkOf = (customerId: string) =>
    (
      shard.db.prepare('SELECT customer_pk FROM customers WHERE customer_id = ?').get(customerId) as {
        customer_pk: number;
      }
    ).customer_pk;

  it('indexes every new customer of a write, once, by name and by email, and follows a change of name', () => {
    // 300 orders of 150 new customers (two orders each, in one batch), more than one multi-row statement
    const orders = Array.from({ length: 300 }, (_, i) =>
      order(i, {
        order_id: `FTS-${i}`,
        customer_id: `FTS-C-${i % 150}`,
        customer_name: `Grace Hopper${i % 150}`,
        customer_email: `grace${i % 150}@navy.example`,
      }),
    );
    expect(shard.write(orders).inserted).toBe(300);
    const pks = Array.from({ length: 150 }, (_, i) => pkOf(`FTS-C-${i}`)).sort((a, b) => a - b);
    expect(matches('hopper')).toEqual(pks);
    expect(matches('navy')).toEqual(pks);
    expect(matches('hopper149')).toEqual([pkOf('FTS-C-149')]);
    // a known customer in a later write is not indexed again; a renamed one is found by its new name only
    shard.write([
      order(1000, {
        order_id: 'FTS-1000',
        customer_id: 'FTS-C-1',
        customer_name: 'Grace Hopper1',
        customer_email: 'grace1@navy.example',
      }),
      order(1001, {
        order_id: 'FTS-1001',
        customer_id: 'FTS-C-2',
        customer_name: 'Amazing Grace',
        customer_email: 'grace2@navy.example',
      }),
      order(1002, {
        order_id: 'FTS-1002',
        customer_id: 'FTS-C-NEW',
        customer_name: 'Ada Byron',
        customer_email: 'ada@byron.example',
      }),
    ]);
    expect(matches('hopper')).toEqual(pks.filter((pk) => pk !== pkOf('FTS-C-2')));
    expect(matches('amazing')).toEqual([pkOf('FTS-C-2')]);
    expect(matches('byron')).toEqual([pkOf('FTS-C-NEW')]);
    // the index holds exactly the table's rows (FTS5 compares it with the content table)
    expect(() =>
      shard.db.prepare("INSERT INTO customers_fts (customers_fts, rank) VALUES ('integrity-check', 1)").run(),
    ).not.toThrow();
    expect(
      shard.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'customers_fts_insert'").get(),
    ).toEqual({ n: 0 });
  });
});
