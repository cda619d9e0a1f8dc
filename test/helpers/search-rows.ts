import type { SearchRow } from '../../src/domain/search.js';

/**
 * Export rows as the search query hands them over positionally: created_at, order_pk, then every field
 * but created_at, in order. Row 3's customer name holds a quote, a comma and a newline unless `name` says
 * otherwise.
 */
export function searchRows(
  from: number,
  n: number,
  name: (i: number) => string = (i) => (i === 3 ? 'Ann "the, quoted" Lee\nSr' : `Name ${i}`),
): SearchRow[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return [
      1_700_000_000_000 - i * 1000,
      1_000_000 - i,
      `ord-${i}`,
      i % 3 ? 'paid' : 'shipped',
      i * 101,
      'EUR',
      `c${i % 7}`,
      name(i),
      `c${i % 7}@example.com`,
      (i % 3) + 1,
      JSON.stringify(
        Array.from({ length: (i % 3) + 1 }, (_, j) => ({
          product_id: 10 + j,
          quantity: j + 1,
          unit_price_cents: 250 * (j + 1),
        })),
      ),
    ] as SearchRow;
  });
}
