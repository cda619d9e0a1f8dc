import { TimeChart } from '../chart.js';
import { Notice, stat } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { button, field, form, h, input, table } from '../dom.js';
import { bytes, count, ms, percent, utc } from '../lib/format.js';
import { History, type MetricsDigest, slowest } from '../lib/operations.js';

interface Tenant {
  tenant_id: number;
  name: string;
  created_at: string;
}
interface KeyInfo {
  key_id: number;
  created_at: string;
  revoked_at: string | null;
}

const REFRESH_MS = 2000;
/** ten minutes of samples */
const HISTORY = 300;

/** Live figures from /metrics.json, and (with the admin token) tenants and their keys. */
export function operationsPage(ctx: ConsoleContext): Page {
  const notice = new Notice();
  const tiles = h('div', { class: 'stats', dataset: { testid: 'ops-stats' } });
  const rateChart = new TimeChart({
    title: 'Ingest rows per second',
    testId: 'chart-ingest',
    height: 160,
    windowS: (HISTORY * REFRESH_MS) / 1000,
    lines: [{ label: 'rows/s', color: '#2563eb', format: (v) => count(Math.round(v)) }],
  });
  const memoryChart = new TimeChart({
    title: 'Server memory (RSS)',
    testId: 'chart-memory',
    height: 160,
    windowS: (HISTORY * REFRESH_MS) / 1000,
    lines: [{ label: 'RSS', color: '#7c3aed', format: bytes, tick: bytes }],
  });
  const latencies = h('section', { class: 'card' });
  const admin = h('section', { class: 'card', dataset: { testid: 'ops-admin' } });
  const el = h(
    'div',
    { class: 'page operations' },
    h('h1', {}, 'Operations'),
    notice.el,
    tiles,
    h('div', { class: 'charts two' }, rateChart.el, memoryChart.el),
    latencies,
    admin,
  );
  const rate = new History(HISTORY);
  const rss = new History(HISTORY);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = new AbortController();

  async function refresh() {
    const m = await notice.run(() => ctx.api.json<MetricsDigest>('/metrics.json', { signal: stop.signal }));
    if (stop.signal.aborted) return;
    if (m) show(m);
    timer = setTimeout(() => void refresh(), REFRESH_MS);
  }

  function show(m: MetricsDigest) {
    const now = Date.now() / 1000;
    rate.push(now, m.ingest.rows_per_second);
    rss.push(now, m.memory.rss_bytes);
    tiles.replaceChildren(
      stat('Ingest', `${count(Math.round(m.ingest.rows_per_second))} rows/s`, 'ops-ingest-rate'),
      stat('Ingest backlog', bytes(m.ingest.pending_bytes)),
      stat('Tasks queued', count(m.pool.queued), 'ops-queue'),
      stat('Writes queued', count(m.pool.writesQueued)),
      stat('Workers busy', `${m.pool.running}/${m.pool.workers} (${percent(m.pool.utilization, 0)})`),
      stat('Memory (RSS)', bytes(m.memory.rss_bytes), 'ops-rss'),
      stat('Event-loop lag p99', ms(m.event_loop_lag_ms.p99)),
      stat('Up for', ms(m.uptime_s * 1000)),
    );
    rateChart.setData(rate.times, [rate.values]);
    memoryChart.setData(rss.times, [rss.values]);
    const rows = (entries: ReturnType<typeof slowest>) =>
      entries.map((r) => [
        r.name,
        count(r.count),
        r.p50_ms === null ? '–' : ms(r.p50_ms),
        r.p95_ms === null ? '–' : ms(r.p95_ms),
      ]);
    latencies.replaceChildren(
      h('h2', {}, 'Slowest routes and queries (p95, last 5 minutes)'),
      h(
        'div',
        { class: 'two' },
        table(['Route', 'Requests', 'p50', 'p95'], rows(slowest(m.http)), {
          class: 'data',
          dataset: { testid: 'ops-routes' },
        }),
        table(['Query', 'Count', 'p50', 'p95'], rows(slowest(m.db_queries)), { class: 'data' }),
      ),
    );
  }

  // ---- tenants and keys: admin token ----
  const token = input('admin_token', { type: 'password', autocomplete: 'off', placeholder: 'admin token' });
  function showAdmin() {
    if (!ctx.session.adminToken) {
      admin.replaceChildren(
        h('h2', {}, 'Tenants and keys'),
        h('p', { class: 'meta' }, 'Managing tenants and keys needs the admin token (kept in this tab only).'),
        form(
          'toolbar',
          () => {
            ctx.session.setAdminToken(token.value.trim());
            void loadTenants();
          },
          field('Admin token', token),
          h('button', { type: 'submit' }, 'Unlock'),
        ),
      );
      return;
    }
    void loadTenants();
  }

  async function loadTenants() {
    const tenants = await notice.run(() => ctx.admin.json<{ data: Tenant[] }>('/api/v1/admin/tenants'));
    if (!tenants) {
      ctx.session.setAdminToken(null);
      return showAdmin();
    }
    const name = input('name', {
      placeholder: 'new tenant name',
      required: true,
      pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}',
    });
    const created = h('div', { class: 'secret' });
    admin.replaceChildren(
      h('h2', {}, 'Tenants and keys'),
      form(
        'toolbar',
        () =>
          void notice.run(async () => {
            const t = await ctx.admin.json<Tenant & { api_key: string }>('/api/v1/admin/tenants', {
              method: 'POST',
              body: { name: name.value.trim() },
            });
            await loadTenants();
            admin
              .querySelector('.secret')
              ?.replaceChildren(secret(`Tenant ${t.name} (${t.tenant_id}) created. Its API key`, t.api_key));
          }),
        field('Name', name),
        h('button', { type: 'submit' }, 'Create tenant'),
        button(
          'Lock',
          () => {
            ctx.session.setAdminToken(null);
            showAdmin();
          },
          { class: 'secondary' },
        ),
      ),
      created,
      table(
        ['Id', 'Name', 'Created', ''],
        tenants.data.map((t) => [
          t.tenant_id,
          t.name,
          utc(t.created_at),
          button('Keys', () => void keys(t), { class: 'secondary' }),
        ]),
        { class: 'data', dataset: { testid: 'tenants-table' } },
      ),
      h('div', { class: 'keys' }),
    );
  }

  /** A new secret, shown once with the advice to copy it now. */
  function secret(label: string, value: string): HTMLElement {
    return h(
      'p',
      { class: 'info' },
      `${label} (shown once, copy it now): `,
      h('code', { class: 'api-key' }, value),
    );
  }

  async function keys(t: Tenant) {
    const target = admin.querySelector('.keys');
    if (!target) return;
    const list = await notice.run(() =>
      ctx.admin.json<{ data: KeyInfo[] }>(`/api/v1/admin/tenants/${t.tenant_id}/keys`),
    );
    if (!list) return;
    const issue = () =>
      ctx.admin.json<{ api_key: string; key_id: number }>(`/api/v1/admin/tenants/${t.tenant_id}/keys`, {
        method: 'POST',
      });
    const revoke = (k: KeyInfo) =>
      ctx.admin.json<unknown>(`/api/v1/admin/tenants/${t.tenant_id}/keys/${k.key_id}`, { method: 'DELETE' });
    const afterwards = async (message: HTMLElement | null) => {
      await keys(t);
      if (message) admin.querySelector('.keys')?.prepend(message);
    };
    target.replaceChildren(
      h('h3', {}, `Keys of ${t.name}`),
      button(
        'Issue a key',
        () =>
          void notice.run(async () => {
            const k = await issue();
            await afterwards(secret(`Key ${k.key_id}`, k.api_key));
          }),
      ),
      table(
        ['Key', 'Created', 'Revoked', ''],
        list.data.map((k) => [
          k.key_id,
          utc(k.created_at),
          k.revoked_at ? utc(k.revoked_at) : '',
          k.revoked_at
            ? null
            : h(
                'span',
                { class: 'actions' },
                // rotation: the new key first, then the old one revoked, so there is never a moment without one
                button(
                  'Rotate',
                  () =>
                    void notice.run(async () => {
                      const fresh = await issue();
                      await revoke(k);
                      await afterwards(
                        secret(`Key ${k.key_id} rotated; the new key ${fresh.key_id}`, fresh.api_key),
                      );
                    }),
                ),
                button(
                  'Revoke',
                  () =>
                    void notice.run(async () => {
                      if (
                        k.key_id === ctx.tenant.key_id &&
                        t.tenant_id === ctx.tenant.tenant_id &&
                        !confirm('This is the key you are signed in with. Revoke it?')
                      )
                        return;
                      await revoke(k);
                      await afterwards(null);
                    }),
                  { class: 'secondary' },
                ),
              ),
        ]),
        { class: 'data', dataset: { testid: 'keys-table' } },
      ),
    );
  }

  void refresh();
  showAdmin();
  return {
    el,
    dispose() {
      stop.abort();
      clearTimeout(timer);
      rateChart.dispose();
      memoryChart.dispose();
    },
  };
}
