import { describe, expect, it } from 'vitest';
import { exportFilters, orderCell, searchParams, toCents } from '../../../console/lib/search.js';

describe('console search', () => {
  it('turns the form into the search query: inclusive end day, cents, trimmed text, the cursor', () => {
    expect(
      searchParams(
        {
          from: '2026-03-01',
          to: '2026-03-31',
          statuses: ['paid', 'shipped'],
          productIds: ' 17, 42 ',
          minTotal: '12.5',
          maxTotal: '',
          q: '  ada ',
          customerEmail: '',
        },
        ['order_id', 'total_cents'],
        { limit: 100, cursor: 'abc' },
      ),
    ).toEqual({
      format: 'json',
      limit: '100',
      fields: 'order_id,total_cents',
      from: '2026-03-01',
      to: '2026-04-01',
      status: 'paid,shipped',
      product_id: '17,42',
      min_total_cents: '1250',
      q: 'ada',
      cursor: 'abc',
    });
  });

  it('refuses an amount that is not one, rather than sending a wrong filter', () => {
    expect(toCents('19.99')).toBe('1999');
    expect(toCents(' 7 ')).toBe('700');
    expect(toCents('')).toBeUndefined();
    expect(() => toCents('1,000')).toThrow(RangeError);
    expect(() => toCents('-5')).toThrow(RangeError);
    expect(() => searchParams({ to: 'tomorrow' }, [], { limit: 1 })).toThrow(RangeError);
  });

  it('gives an export the same filters, without the page parameters', () => {
    expect(exportFilters({ from: '2026-03-01', statuses: ['paid'], q: 'ada' })).toEqual({
      from: '2026-03-01',
      status: 'paid',
      q: 'ada',
    });
  });

  it('shows money in the order currency, times in UTC and items listed', () => {
    const row = {
      total_cents: 123456,
      currency: 'EUR',
      created_at: '2026-03-01T10:15:00Z',
      items: [{ product_id: 17, quantity: 3, unit_price_cents: 1999 }],
    };
    expect(orderCell('total_cents', row)).toBe('€1,234.56');
    expect(orderCell('created_at', row)).toBe('2026-03-01 10:15 UTC');
    expect(orderCell('items', row)).toBe('3 × #17 @ €19.99');
    expect(orderCell('customer_name', row)).toBe('');
  });
});
