import { Notice } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { emptyRow, h } from '../dom.js';
import { withQuery } from '../lib/api.js';
import {
  DEFAULT_FIELDS,
  type OrderField,
  type OrderRow,
  orderCell,
  type SearchFilters,
  searchParams,
} from '../lib/search.js';
import { OrderQueryForm } from '../order-query-form.js';

interface SearchPage {
  data: OrderRow[];
  meta: { next_cursor: string | null; count: number };
}

const PAGE_SIZE = 100;

/** Search with every filter; the table pages with the signed cursor as the user scrolls. */
export function ordersPage(ctx: ConsoleContext): Page {
  const notice = new Notice();
  const query = new OrderQueryForm('Search', () => void search());
  const head = h('thead');
  const body = h('tbody');
  const status = h('p', { class: 'meta', dataset: { testid: 'orders-status' } });
  const more = h(
    'button',
    { type: 'button', class: 'secondary', hidden: true, on: { click: () => void next() } },
    'Load more',
  );
  const sentinel = h('div', { class: 'sentinel' });
  const el = h(
    'div',
    { class: 'page orders' },
    h('h1', {}, 'Orders'),
    query.el,
    notice.el,
    status,
    h(
      'div',
      { class: 'table-scroll' },
      h('table', { class: 'data', dataset: { testid: 'orders-table' } }, head, body),
    ),
    more,
    sentinel,
  );

  let filters: SearchFilters = {};
  let fields: OrderField[] = [...DEFAULT_FIELDS];
  let cursor: string | null = null;
  let loaded = 0;
  let loading = false;
  let controller = new AbortController();

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor && !loading) void next();
  });
  observer.observe(sentinel);

  function search() {
    controller.abort();
    controller = new AbortController();
    filters = query.filters();
    fields = query.fields();
    head.replaceChildren(
      h(
        'tr',
        {},
        fields.map((f) => h('th', { scope: 'col' }, f)),
      ),
    );
    body.replaceChildren();
    cursor = null;
    loaded = 0;
    return fetchPage();
  }

  function next() {
    return cursor ? fetchPage() : Promise.resolve();
  }

  async function fetchPage() {
    loading = true;
    status.textContent = 'Loading…';
    const { signal } = controller;
    const page = await notice.run(async () => {
      const params = searchParams(filters, fields, { limit: PAGE_SIZE, cursor });
      return ctx.api.json<SearchPage>(withQuery(ctx.path('/orders/search'), params), { signal });
    });
    // a newer search started meanwhile: this page belongs to the old one (it may have arrived just before
    // the abort), and its rows must not join the new table
    if (signal.aborted) return;
    loading = false;
    if (!page) {
      status.textContent = '';
      return;
    }
    for (const row of page.data)
      body.appendChild(
        h(
          'tr',
          {},
          fields.map((f) => h('td', { class: f === 'items' ? 'wrap' : '' }, orderCell(f, row))),
        ),
      );
    loaded += page.data.length;
    if (loaded === 0) body.appendChild(emptyRow(fields.length, 'No orders match these filters.'));
    cursor = page.meta.next_cursor;
    more.hidden = !cursor;
    status.textContent = `${loaded} order${loaded === 1 ? '' : 's'} shown${cursor ? ', more as you scroll' : ', the end of the results'}`;
    // a short first page may leave the sentinel in view: keep filling until it is not
    const rect = sentinel.getBoundingClientRect();
    if (cursor && rect.top < window.innerHeight) void next();
  }

  void search();
  return {
    el,
    dispose() {
      controller.abort();
      observer.disconnect();
    },
  };
}
