import { compactNumber, TimeChart } from '../chart.js';
import { Notice, stat } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { field, form, h, input, select, table } from '../dom.js';
import { withQuery } from '../lib/api.js';
import { count, money, ms, percent } from '../lib/format.js';
import {
  bucketStarts,
  isoDay,
  lastDays,
  type Precision,
  type SalesAnswer,
  type SalesRange,
  salesParams,
  salesSeries,
  salesTotals,
  suggestedGrouping,
  TIME_GROUPINGS,
  type TimeGroup,
} from '../lib/sales.js';

const PRESETS: [label: string, days: number][] = [
  ['7 days', 7],
  ['30 days', 30],
  ['90 days', 90],
  ['1 year', 365],
];

/** Sales over time (revenue, orders, customers with their error band, order-value percentiles) and breakdowns. */
export function salesPage(ctx: ConsoleContext): Page {
  const notice = new Notice();
  const start = input('start_date', { type: 'date', required: true });
  const end = input('end_date', { type: 'date', required: true });
  const grouping = select('group_by', ['auto', ...TIME_GROUPINGS], 'auto');
  const precision = select('precision', [
    ['exact', 'Exact'],
    ['approx', 'Approximate (sketches)'],
  ]);
  const presets = h(
    'div',
    { class: 'presets' },
    PRESETS.map(([label, days]) =>
      h('button', { type: 'button', class: 'secondary', on: { click: () => preset(days) } }, label),
    ),
  );
  const controls = form(
    'toolbar',
    () => void load(),
    field('From', start),
    field('To (included)', end),
    field('Group by', grouping),
    field('Precision', precision),
    h('button', { type: 'submit' }, 'Show'),
    presets,
  );
  const totals = h('div', { class: 'stats', dataset: { testid: 'sales-totals' } });
  const meta = h('p', { class: 'meta', dataset: { testid: 'sales-meta' } });
  const money0 = (v: number) => money(Math.round(v * 100));
  const moneyTick = (v: number) => `$${compactNumber(v)}`;
  const revenueChart = new TimeChart({
    title: 'Revenue and orders',
    testId: 'chart-revenue',
    lines: [
      { label: 'Revenue', color: '#2563eb', format: money0, tick: moneyTick },
      { label: 'Orders', color: '#f59e0b', scale: 'orders', bars: true, format: (v) => count(Math.round(v)) },
    ],
  });
  const customersChart = new TimeChart({
    title: 'Unique customers (the band is the 95% error bound of the approximate count)',
    testId: 'chart-customers',
    lines: [
      { label: 'Unique customers', color: '#059669', format: (v) => count(Math.round(v)) },
      { label: 'upper 95%', color: '#05966933', format: (v) => count(Math.round(v)) },
      { label: 'lower 95%', color: '#05966933', format: (v) => count(Math.round(v)) },
    ],
    band: { upper: 1, lower: 2, fill: '#05966922' },
  });
  const percentileChart = new TimeChart({
    title: 'Order value percentiles',
    testId: 'chart-percentiles',
    lines: [
      { label: 'p50', tick: moneyTick, color: '#7c3aed', format: money0 },
      { label: 'p95', tick: moneyTick, color: '#db2777', format: money0 },
      { label: 'p99', tick: moneyTick, color: '#dc2626', format: money0 },
    ],
  });
  const categories = h('section', { class: 'card', dataset: { testid: 'sales-categories' } });
  const products = h('section', { class: 'card', dataset: { testid: 'sales-products' } });
  const el = h(
    'div',
    { class: 'page sales' },
    h('h1', {}, 'Sales'),
    controls,
    notice.el,
    totals,
    meta,
    h('div', { class: 'charts' }, revenueChart.el, customersChart.el, percentileChart.el),
    h('div', { class: 'breakdowns' }, categories, products),
  );
  let controller = new AbortController();

  const range = (): SalesRange => ({ start: start.value, end: end.value });
  function preset(days: number) {
    const r = lastDays(end.value || isoDay(Date.now()), days);
    start.value = r.start;
    end.value = r.end;
    void load();
  }

  async function load() {
    controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    await notice.run(async () => {
      const r = range();
      const groupBy: TimeGroup =
        grouping.value === 'auto' ? suggestedGrouping(r) : (grouping.value as TimeGroup);
      const p = precision.value as Precision;
      const get = (params: Record<string, string>) =>
        ctx.api.json<SalesAnswer>(withQuery(ctx.path('/metrics/sales'), params), { signal });
      const [overTime, byCategory, byProduct] = await Promise.all([
        get(salesParams(r, groupBy, p)),
        get(salesParams(r, 'category', p)),
        get(salesParams(r, 'product', p, { top: '20' })),
      ]);
      showTotals(overTime, groupBy);
      const s = salesSeries(overTime, bucketStarts(r, groupBy));
      revenueChart.setData(s.x, [s.revenue, s.orders]);
      customersChart.setData(s.x, [s.customers, s.customersHigh, s.customersLow]);
      percentileChart.setData(s.x, [s.p50, s.p95, s.p99]);
      showBreakdown(categories, 'By category', 'Category', byCategory);
      showBreakdown(products, 'Top 20 products by revenue', 'Product', byProduct);
    });
  }

  function showTotals(answer: SalesAnswer, groupBy: TimeGroup) {
    const t = salesTotals(answer.data);
    totals.replaceChildren(
      stat('Revenue', money(t.revenue_cents), 'total-revenue'),
      stat('Orders', count(t.orders), 'total-orders'),
      stat('Units', count(t.units)),
      stat('Average order', t.orders ? money(Math.round(t.revenue_cents / t.orders)) : '–'),
      stat(`Buckets (${groupBy})`, count(answer.data.length)),
    );
    const m = answer.meta;
    const bounds = m.error_bounds;
    meta.replaceChildren(
      `${m.precision === 'approx' ? 'Approximate' : 'Exact'} · ${ms(m.elapsed_ms)} on the server`,
      m.rows_scanned !== undefined ? ` · ${count(m.rows_scanned)} rows read` : '',
      m.method ? ` · ${m.method}` : '',
      bounds?.unique_customers
        ? ` · unique customers ±${percent(bounds.unique_customers.relative_error_95)} (95%)` +
            (bounds.percentiles
              ? `, percentiles within ${percent(bounds.percentiles.rank_error)} of rank`
              : '')
        : '',
    );
  }

  function showBreakdown(target: HTMLElement, title: string, keyLabel: string, answer: SalesAnswer) {
    const max = Math.max(1, ...answer.data.map((b) => b.revenue_cents));
    target.replaceChildren(
      h('h2', {}, title),
      answer.data.length === 0
        ? h('p', { class: 'empty' }, 'No sales in this range.')
        : table(
            [keyLabel, 'Revenue', 'Orders', 'Units', 'Customers', 'p50 order'],
            answer.data.map((b) => {
              const bar = h('span', { class: 'bar' });
              bar.style.width = `${(100 * b.revenue_cents) / max}%`;
              return [
                h('span', { class: 'bar-cell' }, bar, h('span', {}, b.key)),
                money(b.revenue_cents),
                count(b.orders),
                count(b.units),
                count(b.unique_customers),
                money(b.p50_order_value_cents),
              ];
            }),
            { class: 'data' },
          ),
    );
  }

  /** The range opens on the tenant's newest order, so a tenant with data from last year sees it at once. */
  async function initialRange() {
    let last = isoDay(Date.now());
    const newest = await notice.run(() =>
      ctx.api.json<{ data: { created_at: string }[] }>(
        withQuery(ctx.path('/orders/search'), { format: 'json', limit: 1, fields: 'created_at' }),
      ),
    );
    const at = newest?.data[0]?.created_at;
    if (at) last = at.slice(0, 10);
    const r = lastDays(last, 90);
    start.value = r.start;
    end.value = r.end;
    await load();
  }
  void initialRange();

  return {
    el,
    dispose() {
      controller.abort();
      revenueChart.dispose();
      customersChart.dispose();
      percentileChart.dispose();
    },
  };
}
