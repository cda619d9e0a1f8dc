import { CheckboxGroup, Notice } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { button, emptyRow, field, form, h, input, select } from '../dom.js';
import { withQuery } from '../lib/api.js';
import { bytes, count, utc } from '../lib/format.js';
import { DEFAULT_FIELDS, exportFilters, ORDER_STATUSES, SEARCH_FIELDS } from '../lib/search.js';

interface ExportStatus {
  export_id: string;
  state: string;
  format: string;
  compression: string;
  rows_written: number;
  bytes_written: number;
  size: number | null;
  sha256: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
  status_url: string;
  download_url: string;
}

const RUNNING = new Set(['queued', 'running']);

/** The file name a download is saved under: the server's Content-Disposition, else one from the export. */
function downloadName(res: Response, e: ExportStatus): string {
  const named = /filename="?([^";]+)"?/i.exec(res.headers.get('content-disposition') ?? '');
  if (named?.[1]) return named[1];
  return `export-${e.export_id}.${e.format}${e.compression === 'gzip' ? '.gz' : ''}`;
}

/** Create a CSV or Parquet export with filters and fields, watch its state, download it. */
export function exportsPage(ctx: ConsoleContext): Page {
  const notice = new Notice();
  const format = select('format', [
    ['csv', 'CSV'],
    ['parquet', 'Parquet'],
  ]);
  const compression = select('compression', [
    ['none', 'none'],
    ['gzip', 'gzip'],
  ]);
  const from = input('from', { type: 'date' });
  const to = input('to', { type: 'date' });
  const q = input('q', { type: 'search', placeholder: 'name or email' });
  const statuses = new CheckboxGroup('status', 'Status', ORDER_STATUSES);
  const columns = new CheckboxGroup('fields', 'Columns', SEARCH_FIELDS, DEFAULT_FIELDS);
  const controls = form(
    'filters',
    () => void create(),
    h(
      'div',
      { class: 'toolbar' },
      field('Format', format),
      field('Compression', compression),
      field('From', from),
      field('To (included)', to),
      field('Text', q),
    ),
    statuses.el,
    columns.el,
    h('button', { type: 'submit' }, 'Create export'),
  );
  const body = h('tbody');
  const el = h(
    'div',
    { class: 'page exports' },
    h('h1', {}, 'Exports'),
    controls,
    notice.el,
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { class: 'data', dataset: { testid: 'exports-table' } },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Created', 'Format', 'State', 'Rows', 'Size', ''].map((x) => h('th', {}, x)),
          ),
        ),
        body,
      ),
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = new AbortController();

  async function create() {
    const created = await notice.run(() =>
      ctx.api.json<ExportStatus>(ctx.path('/reports/export'), {
        method: 'POST',
        body: {
          format: format.value,
          compression: compression.value,
          filters: exportFilters({
            from: from.value,
            to: to.value,
            q: q.value,
            statuses: statuses.selected(),
          }),
          fields: columns.selected(),
        },
      }),
    );
    if (created) await refresh();
  }

  async function download(e: ExportStatus) {
    await notice.run(async () => {
      const res = await ctx.api.request(e.download_url, { signal: stop.signal });
      // the key goes in a header, so a plain link cannot fetch the file; the browser saves the blob instead
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: downloadName(res, e) });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    });
  }

  function row(e: ExportStatus): HTMLTableRowElement {
    return h(
      'tr',
      { dataset: { exportId: e.export_id, state: e.state } },
      h('td', {}, utc(e.created_at)),
      h('td', {}, `${e.format}${e.compression === 'gzip' ? ' (gzip)' : ''}`),
      h('td', { class: 'state' }, e.state, e.error ? h('small', { class: 'error' }, ` ${e.error}`) : null),
      h('td', {}, count(e.rows_written)),
      h('td', {}, bytes(e.size ?? e.bytes_written)),
      h('td', {}, e.state === 'complete' ? button('Download', () => void download(e)) : null),
    );
  }

  async function refresh() {
    clearTimeout(timer);
    const list = await notice.run(() =>
      ctx.api.json<{ data: ExportStatus[] }>(withQuery(ctx.path('/reports/exports'), { limit: 50 }), {
        signal: stop.signal,
      }),
    );
    if (!list || stop.signal.aborted) return;
    body.replaceChildren(...(list.data.length ? list.data.map(row) : [emptyRow(6, 'No exports yet.')]));
    // watch running jobs until they finish
    if (list.data.some((e) => RUNNING.has(e.state))) timer = setTimeout(() => void refresh(), 1000);
  }

  void refresh();
  return {
    el,
    dispose() {
      stop.abort();
      clearTimeout(timer);
    },
  };
}
