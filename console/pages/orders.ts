import { CheckboxGroup, Notice } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { emptyRow, field, form, h, input } from '../dom.js';
import { withQuery } from '../lib/api.js';
import {
  DEFAULT_FIELDS,
  ORDER_STATUSES,
  type OrderField,
  type OrderRow,
  orderCell,
  SEARCH_FIELDS,
  type SearchFilters,
  searchParams,
} from '../lib/search.js';

interface SearchPage {
  data: OrderRow[];
  meta: { next_cursor: string | null; count: number };
}

const PAGE_SIZE = 100;

/** Search with every filter; the table pages with the signed cursor as the user scrolls. */
export function ordersPage(ctx: ConsoleContext): Page {
  const notice = new Notice();
  const from = input('from', { type: 'date' });
  const to = input('to', { type: 'date' });
  const q = input('q', { type: 'search', placeholder: 'name or email, prefix words' });
  const email = input('customer_email', { type: 'email', placeholder: 'exact email' });
  const productIds = input('product_id', { placeholder: '17, 42' });
  const minTotal = input('min_total', { inputMode: 'decimal', placeholder: '0.00' });
  const maxTotal = input('max_total', { inputMode: 'decimal', placeholder: '0.00' });
  const statuses = new CheckboxGroup('status', 'Status', ORDER_STATUSES);
  const columns = new CheckboxGroup('fields', 'Columns', SEARCH_FIELDS, DEFAULT_FIELDS);
  const controls = form(
    'filters',
    () => void search(),
    h(
      'div',
      { class: 'toolbar' },
      field('Text', q),
      field('From', from),
      field('To (included)', to),
      field('Customer email', email),
      field('Products', productIds),
      field('Min total', minTotal),
      field('Max total', maxTotal),
    ),
    statuses.el,
    columns.el,
    h('button', { type: 'submit' }, 'Search'),
  );
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
    controls,
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
    filters = {
      from: from.value,
      to: to.value,
      statuses: statuses.selected(),
      productIds: productIds.value,
      minTotal: minTotal.value,
      maxTotal: maxTotal.value,
      q: q.value,
      customerEmail: email.value,
    };
    fields = columns.selected();
    if (fields.length === 0) fields = [...DEFAULT_FIELDS];
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
