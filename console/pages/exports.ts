import { Notice } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { button, emptyRow, field, h, select } from '../dom.js';
import { withQuery } from '../lib/api.js';
import { bytes, count, utc } from '../lib/format.js';
import { exportFilters } from '../lib/search.js';
import { OrderQueryForm } from '../order-query-form.js';

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
  const query = new OrderQueryForm('Create export', () => void create(), [
    field('Format', format),
    field('Compression', compression),
  ]);
  const body = h('tbody');
  const el = h(
    'div',
    { class: 'page exports' },
    h('h1', {}, 'Exports'),
    query.el,
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
          filters: exportFilters(query.filters()),
          fields: query.fields(),
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
