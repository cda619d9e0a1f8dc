import './styles.css';
import { Notice } from './components.js';
import type { ConsoleContext, Page } from './context.js';
import { button, field, form, h, input } from './dom.js';
import { ApiClient, ApiError } from './lib/api.js';
import { PAGES, type PageId, pageFromHash } from './lib/pages.js';
import { type Identity, Session } from './lib/session.js';
import { anomaliesPage } from './pages/anomalies.js';
import { exportsPage } from './pages/exports.js';
import { ingestPage } from './pages/ingest.js';
import { operationsPage } from './pages/operations.js';
import { ordersPage } from './pages/orders.js';
import { salesPage } from './pages/sales.js';

const PAGE_BUILDERS: Record<PageId, (ctx: ConsoleContext) => Page> = {
  sales: salesPage,
  orders: ordersPage,
  anomalies: anomaliesPage,
  ingest: ingestPage,
  exports: exportsPage,
  operations: operationsPage,
};

const session = new Session(sessionStorage);
const root = document.getElementById('app')!;

/** Back to the sign-in form, with why when there is a reason (a refused key). */
function signInView(reason?: unknown): void {
  window.onhashchange = null;
  const notice = new Notice();
  if (reason) notice.show(reason);
  const key = input('api_key', {
    type: 'password',
    autocomplete: 'off',
    required: true,
    placeholder: 'of_…',
  });
  const signIn = form(
    'signin card',
    () => {
      const candidate = key.value.trim();
      void notice.run(async () => {
        const who = await new ApiClient(() => candidate).json<Identity>('/api/v1/me');
        session.signIn(candidate, who);
        shellView();
      });
    },
    h('h1', {}, 'Orderflow console'),
    h('p', {}, 'Sign in with an API key. It is kept in this tab only and sent to this server alone.'),
    field('API key', key),
    h('button', { type: 'submit' }, 'Sign in'),
    notice.el,
  );
  root.replaceChildren(h('main', { class: 'center' }, signIn));
  key.focus();
}

function shellView(): void {
  const tenant = session.identity;
  if (!tenant) {
    signInView();
    return;
  }
  const ctx: ConsoleContext = {
    api: new ApiClient(() => session.apiKey),
    admin: new ApiClient(() => session.adminToken),
    session,
    tenant,
    path: (rest) => session.tenantPath(rest),
  };
  const nav = h(
    'nav',
    { attrs: { 'aria-label': 'Pages' } },
    PAGES.map((p) => h('a', { href: `#/${p.id}`, dataset: { page: p.id } }, p.title)),
  );
  const main = h('main', { class: 'content' });
  const menu = button('☰', () => document.body.classList.toggle('nav-open'), {
    class: 'menu',
    attrs: { 'aria-label': 'Menu' },
  });
  root.replaceChildren(
    h(
      'header',
      {},
      menu,
      h('span', { class: 'brand' }, 'Orderflow'),
      h(
        'span',
        { class: 'tenant', dataset: { testid: 'tenant-name' } },
        `${tenant.tenant_name} · tenant ${tenant.tenant_id}`,
      ),
      button('Sign out', () => leave(), { class: 'secondary' }),
    ),
    nav,
    main,
  );
  let current: Page | null = null;
  /** Signs out: the page stops its streams and timers, the tab forgets the key. */
  const leave = (reason?: unknown) => {
    current?.dispose?.();
    current = null;
    session.signOut();
    signInView(reason);
    history.replaceState(null, '', location.pathname);
  };
  // a key revoked or rotated elsewhere ends the session at its next request
  ctx.api.onUnauthorized = (problem) => leave(new ApiError(problem));
  const show = () => {
    const id = pageFromHash(location.hash);
    current?.dispose?.();
    current = PAGE_BUILDERS[id](ctx);
    main.replaceChildren(current.el);
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === id);
    document.title = `${PAGES.find((p) => p.id === id)?.title} · Orderflow`;
    document.body.classList.remove('nav-open');
  };
  window.onhashchange = show;
  show();
}

if (session.identity) shellView();
else signInView();
