import { Notice } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { button, emptyRow, field, h, select } from '../dom.js';
import { withQuery } from '../lib/api.js';
import { money, utc } from '../lib/format.js';
import { followEvents, type StreamState } from '../lib/sse.js';

interface Anomaly {
  event_id: string;
  product_id: number;
  previous_price_cents: number | null;
  price_cents: number;
  change_pct: number | null;
  status: string;
  observed_at?: string;
  seq?: number;
  reasons?: string[];
}

const STATE_TEXT: Record<StreamState, string> = {
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  closed: 'stopped',
};

/** The review queue: flagged price events with review/dismiss, and new ones arriving live over SSE. */
export function anomaliesPage(ctx: ConsoleContext): Page {
  const notice = new Notice();
  const statusFilter = select(
    'status',
    [
      ['review', 'To review'],
      ['reviewed', 'Reviewed'],
      ['dismissed', 'Dismissed'],
      ['accepted', 'Accepted'],
      ['', 'All'],
    ],
    'review',
  );
  statusFilter.addEventListener('change', () => void reload());
  const live = h('span', { class: 'live', dataset: { testid: 'stream-state' } }, 'connecting…');
  const body = h('tbody');
  const more = h(
    'button',
    { type: 'button', class: 'secondary', hidden: true, on: { click: () => void page() } },
    'Load more',
  );
  const el = h(
    'div',
    { class: 'page anomalies' },
    h('h1', {}, 'Price anomalies'),
    h(
      'div',
      { class: 'toolbar' },
      field('Show', statusFilter),
      h('p', { class: 'meta' }, 'New anomalies: ', live),
    ),
    notice.el,
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { class: 'data', dataset: { testid: 'anomalies-table' } },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Observed', 'Product', 'Price', 'Change', 'Why', 'Status', ''].map((x) => h('th', {}, x)),
          ),
        ),
        body,
      ),
    ),
    more,
  );
  const shown = new Set<string>();
  let cursor: string | null = null;
  /** which list the table shows: a page asked for an earlier one is dropped */
  let listing = 0;
  const stop = new AbortController();

  function row(a: Anomaly, fresh = false): HTMLTableRowElement {
    const statusCell = h('td', { class: 'status' }, a.status);
    const actions = h('td', { class: 'actions' });
    const tr = h(
      'tr',
      { class: fresh ? 'fresh' : '', dataset: { eventId: a.event_id } },
      h('td', {}, a.observed_at ? utc(a.observed_at) : 'just now'),
      h('td', {}, `#${a.product_id}`),
      h(
        'td',
        {},
        `${a.previous_price_cents === null ? '–' : money(a.previous_price_cents)} → ${money(a.price_cents)}`,
      ),
      h(
        'td',
        { class: (a.change_pct ?? 0) < 0 ? 'down' : 'up' },
        a.change_pct === null ? '–' : `${a.change_pct > 0 ? '+' : ''}${a.change_pct.toFixed(1)}%`,
      ),
      h('td', {}, (a.reasons ?? []).join(', ')),
      statusCell,
      actions,
    );
    const act = (status: 'reviewed' | 'dismissed', label: string) =>
      button(
        label,
        () =>
          void notice.run(async () => {
            const updated = await ctx.api.json<Anomaly>(
              ctx.path(`/price-events/${encodeURIComponent(a.event_id)}`),
              {
                method: 'PATCH',
                body: { status },
              },
            );
            statusCell.textContent = updated.status;
            actions.replaceChildren();
          }),
        { class: status === 'dismissed' ? 'secondary' : '' },
      );
    if (a.status === 'review') actions.append(act('reviewed', 'Mark reviewed'), act('dismissed', 'Dismiss'));
    return tr;
  }

  async function page() {
    const asked = listing;
    const list = await notice.run(() =>
      ctx.api.json<{ data: Anomaly[]; next_cursor: string | null }>(
        withQuery(ctx.path('/price-anomalies'), { status: statusFilter.value, limit: 50, cursor }),
        { signal: stop.signal },
      ),
    );
    // the filter changed meanwhile: this page belongs to the old list
    if (!list || asked !== listing) return;
    for (const a of list.data) {
      if (shown.has(a.event_id)) continue;
      shown.add(a.event_id);
      body.appendChild(row(a));
    }
    cursor = list.next_cursor;
    more.hidden = !cursor;
    if (!body.rows.length)
      body.appendChild(emptyRow(7, 'No anomalies here. New ones appear as they are detected.'));
  }

  async function reload() {
    listing++;
    body.replaceChildren();
    shown.clear();
    cursor = null;
    await page();
  }

  /**
   * The newest anomaly's sequence is read first, then the list, then the stream follows from that sequence:
   * one committed in between is in the list, the stream or both (shown once), never in neither.
   */
  async function start() {
    const newest = await notice.run(() =>
      ctx.api.json<{ data: Anomaly[] }>(withQuery(ctx.path('/price-anomalies'), { limit: 1 }), {
        signal: stop.signal,
      }),
    );
    if (!newest) return;
    await reload();
    await followEvents({
      signal: stop.signal,
      lastEventId: String(newest.data[0]?.seq ?? 0),
      open: (lastEventId, signal) =>
        ctx.api.request(ctx.path('/price-anomalies/stream'), {
          signal,
          headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
        }),
      onState: (state, detail) => {
        live.textContent = STATE_TEXT[state];
        live.title = detail ?? '';
        live.dataset.state = state;
      },
      onEvent: (event) => {
        if (event.event !== 'anomaly') return;
        const a = JSON.parse(event.data) as Anomaly;
        if (shown.has(a.event_id)) return;
        if (statusFilter.value && a.status !== statusFilter.value) return;
        shown.add(a.event_id);
        body.querySelector('.empty-row')?.remove();
        body.prepend(row(a, true));
      },
    });
  }

  void start();
  return { el, dispose: () => stop.abort() };
}
