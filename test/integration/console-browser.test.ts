import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ordersInRange, seedConsoleTenant, seedOrder } from '../helpers/console-data.js';
import {
  ADMIN_TOKEN,
  auth,
  ROOT,
  removeDir,
  startServer,
  type TestServer,
  tempDataDir,
} from '../helpers/server.js';

/**
 * The console in a real browser: headless Chromium driven by Playwright against a real server and a seeded
 * tenant. Screenshots of each page at 1280 px go to docs/console/ (the README shows them).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skipReason = existsSync(CHROMIUM)
  ? null
  : `no Chromium at ${CHROMIUM}: install Debian's chromium (.ci/run does) or set CHROMIUM_PATH`;
const SHOTS = join(ROOT, 'docs', 'console');
const UPLOAD = '**/api/v1/ingest/orders/uploads/*';
// Expressions evaluated in the page: strings, as the tests' TypeScript has no DOM types
const SCROLL_WIDTH = 'document.documentElement.scrollWidth';
const PROGRESS = "document.querySelector('[data-testid=upload-progress]').value";
const SALES_META = "document.querySelector('[data-testid=sales-meta]').textContent";
/** pixels of the revenue line's blue (#2563eb) on the revenue chart's canvas */
const BLUE_PIXELS = `(() => {
  const canvas = document.querySelector('[data-testid=chart-revenue] canvas');
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] < 80 && data[i + 2] > 200 && data[i + 3] > 200) n++;
  return n;
})()`;

function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // no background networking: this machine's network is closed, and Chromium would keep trying
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

describe.skipIf(skipReason !== null)(
  `console in Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let server: TestServer;
    let tenant: { tenant_id: number; api_key: string };
    let browser: Browser;
    let page: Page;
    const pageErrors: string[] = [];
    const files = tempDataDir('orderflow-console-files-');
    const SEEDED = 2400;

    const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
      const res = await fetch(`${server.url}${path}`, {
        ...init,
        headers: auth(tenant.api_key, { 'content-type': 'application/json', ...(init.headers as object) }),
      });
      expect(res.ok, `${path}: ${res.status}`).toBe(true);
      return (await res.json()) as T;
    };
    /** A price jump from 10.00 to 50.00: an anomaly for review. */
    const postAnomaly = (productId: number, eventId: string) =>
      api(`/api/v1/tenants/${tenant.tenant_id}/products/${productId}/price-event`, {
        method: 'POST',
        body: JSON.stringify({ event_id: eventId, price_cents: 5000, observed_at: new Date().toISOString() }),
      });
    const shot = async (name: string) => {
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: join(SHOTS, `${name}.png`) });
    };
    const go = async (hash: string) => {
      await page.goto(`${server.url}/console#/${hash}`);
      await page.waitForSelector(`nav a.active[data-page="${hash}"]`, { state: 'attached' });
    };

    beforeAll(async () => {
      server = await startServer();
      tenant = await seedConsoleTenant(server, 'console-demo', SEEDED);
      mkdirSync(SHOTS, { recursive: true });
      browser = await launchChromium();
      const context = await browser.newContext({
        viewport: { width: 1280, height: 900 },
        acceptDownloads: true,
      });
      page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        // a Content-Security-Policy violation, an uncaught error or a cut stream is a defect; API errors
        // (4xx/5xx, shown as problems) and the refused connections while a test restarts the server are not
        const expected = /status of (4\d\d|5\d\d)|net::ERR_CONNECTION_REFUSED/;
        if (m.type() === 'error' && !expected.test(m.text())) pageErrors.push(m.text());
      });
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      if (server) removeDir(server.dataDir);
      removeDir(files);
    });

    it("a wrong key shows the API's problem, with its request id", async () => {
      await page.goto(`${server.url}/console`);
      await page.fill('input[name=api_key]', 'of_not-a-key');
      await page.click('button[type=submit]');
      const problem = page.locator('.problem');
      await problem.waitFor();
      expect(await problem.locator('.problem-title').textContent()).toBe('The API key is not valid');
      expect(await problem.textContent()).toContain('invalid_api_key');
      expect(await problem.locator('.request-id').textContent()).toMatch(/\S{8,}/);
      await shot('sign-in-error');
    });

    it('signs in and draws sales from the tenant data, matching the API', async () => {
      await page.fill('input[name=api_key]', tenant.api_key);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-testid=total-orders]');
      expect(await page.textContent('[data-testid=tenant-name]')).toContain('console-demo');
      const start = await page.inputValue('input[name=start_date]');
      const end = await page.inputValue('input[name=end_date]');
      const orders = await ordersInRange(server, tenant, start, end);
      expect(orders).toBeGreaterThan(500);
      const shown = await page.textContent('[data-testid=total-orders] .stat-value');
      expect(Number(shown!.replace(/,/g, ''))).toBe(orders);
      // the revenue line is drawn: its blue is on the canvas
      const blue = await page.evaluate(BLUE_PIXELS);
      expect(blue).toBeGreaterThan(200);
      // breakdowns by category (shoes and bags) and top products
      await page.waitForSelector('[data-testid=sales-categories] td');
      expect(await page.textContent('[data-testid=sales-categories]')).toContain('shoes');
      // approx mode draws the band and states the bounds
      await page.selectOption('select[name=precision]', 'approx');
      await page.click('form.toolbar button[type=submit]');
      // (polled from here: the console's CSP forbids the eval that waitForFunction would need)
      await expect.poll(async () => String(await page.evaluate(SALES_META))).toMatch(/^Approximate/);
      expect(await page.textContent('[data-testid=sales-meta]')).toMatch(/unique customers ±[\d.]+% \(95%\)/);
      await shot('sales');
    });

    it('pages through orders with the signed cursor as the user scrolls', async () => {
      await go('orders');
      const rows = page.locator('[data-testid=orders-table] tbody tr');
      await expect.poll(() => rows.count()).toBe(100);
      const newest = await api<{ data: { order_id: string }[] }>(
        `/api/v1/tenants/${tenant.tenant_id}/orders/search?format=json&limit=1&fields=order_id`,
      );
      expect(await rows.first().locator('td').first().textContent()).toBe(newest.data[0]!.order_id);
      await shot('orders');
      await page.locator('.sentinel').scrollIntoViewIfNeeded();
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(200);
      // the pages join without a gap or a repeat
      const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.querySelector('td')?.textContent ?? ''));
      expect(new Set(ids).size).toBe(200);
      // a filter and a column choice go to the API as the search's own parameters
      await page.fill('input[name=q]', 'grace');
      await page.uncheck('input[name=fields][value=currency]');
      await page.click('form.filters button[type=submit]');
      await expect
        .poll(() => page.locator('[data-testid=orders-table] thead th').allTextContents())
        .not.toContain('currency');
      const column = (await page.locator('[data-testid=orders-table] thead th').allTextContents()).indexOf(
        'customer_name',
      );
      // the new page arrives after the new header: wait for its rows, then read them all
      const names = () =>
        page.locator(`[data-testid=orders-table] tbody td:nth-child(${column + 1})`).allTextContents();
      await expect.poll(async () => (await names()).length).toBeGreaterThan(0);
      for (const name of await names()) expect(name).toMatch(/^Grace Hopper/);
    });

    it('shows an anomaly posted meanwhile within 2 s, live, and dismisses it', async () => {
      await go('anomalies');
      await page.waitForSelector('[data-testid=stream-state][data-state=open]');
      const posted = Date.now();
      await postAnomaly(7, 'console-live-1');
      const row = page.locator('tr[data-event-id="console-live-1"]');
      await row.waitFor({ timeout: 2000 });
      expect(Date.now() - posted).toBeLessThan(2000);
      expect(await row.textContent()).toContain('#7');
      await shot('anomalies');
      await row.getByRole('button', { name: 'Dismiss' }).click();
      await expect.poll(() => row.locator('td.status').textContent()).toBe('dismissed');
      const dismissed = await api<{ data: { event_id: string }[] }>(
        `/api/v1/tenants/${tenant.tenant_id}/price-anomalies?status=dismissed`,
      );
      expect(dismissed.data.map((e) => e.event_id)).toContain('console-live-1');
    });

    it('after the server restarts, the live list resumes from its last event, missing nothing', async () => {
      await go('anomalies');
      await page.waitForSelector('[data-testid=stream-state][data-state=open]');
      const resumedFrom: string[] = [];
      const onRequest = (r: Request) => {
        if (r.url().endsWith('/price-anomalies/stream')) resumedFrom.push(r.headers()['last-event-id'] ?? '');
      };
      page.on('request', onRequest);
      // the connection drops with the server; the page keeps trying
      const { port, dataDir } = server;
      const stopping = Date.now();
      await server.stop();
      // the stream ended at SIGTERM with a retry hint instead of holding the drain to its timeout
      expect(Date.now() - stopping).toBeLessThan(5000);
      await page.waitForSelector('[data-testid=stream-state][data-state=reconnecting]');
      server = await startServer({ dataDir, args: ['--port', String(port)] });
      // committed while the page is (most likely) still waiting to reconnect: the stream's backlog brings it
      await postAnomaly(8, 'console-gap-1');
      await page.locator('tr[data-event-id="console-gap-1"]').waitFor({ timeout: 15_000 });
      await page.waitForSelector('[data-testid=stream-state][data-state=open]');
      page.off('request', onRequest);
      expect(resumedFrom.length).toBeGreaterThan(0);
      // every reconnect named the last event seen (the one dismissed above at least), not 0
      for (const id of resumedFrom) expect(Number(id)).toBeGreaterThan(0);
      expect(await page.locator('tr[data-event-id="console-gap-1"]').count()).toBe(1);
    });

    it('uploads a file through tus with progress, survives a reload mid-upload, and shows the summary', async () => {
      const count = 60_000; // about 16 MB: four 4 MiB chunks
      const file = join(files, 'orders.ndjson');
      const lines = Array.from({ length: count }, (_, n) => JSON.stringify(seedOrder(n, 'U')));
      lines.splice(100, 0, '{"order_id":"bad-1","status":"lost"}');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const creations: string[] = [];
      const offsets: number[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().endsWith('/api/v1/ingest/orders/uploads'))
          creations.push(r.url());
        if (r.method() === 'PATCH') offsets.push(Number(r.headers()['upload-offset']));
      });
      const chunkStored = () =>
        page.waitForResponse((r) => r.request().method() === 'PATCH' && r.status() === 204);
      // slow the appends down so that the upload is still running when the user pauses and reloads
      await page.route(UPLOAD, async (route) => {
        if (route.request().method() === 'PATCH') await new Promise((r) => setTimeout(r, 400));
        // Pause may have aborted the request while it waited here
        await route.continue().catch(() => {});
      });
      await go('ingest');
      const firstChunk = chunkStored();
      await page.setInputFiles('input[type=file]', file);
      await firstChunk;
      expect(Number(await page.evaluate(PROGRESS))).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Pause' }).click();
      const pausedAt = Number(await page.evaluate(PROGRESS));
      expect(pausedAt).toBeLessThan(1);
      // Resume goes on from the server's offset, in the same page
      const nextChunk = chunkStored();
      await page.getByRole('button', { name: 'Resume' }).click();
      await nextChunk;
      await page.getByRole('button', { name: 'Pause' }).click();
      expect(Number(await page.evaluate(PROGRESS))).toBeGreaterThan(pausedAt);
      expect(Number(await page.evaluate(PROGRESS))).toBeLessThan(1);
      await page.reload();
      // a request the route held when the page went away is dropped, not continued
      await page.unrouteAll({ behavior: 'ignoreErrors' });
      // still signed in (sessionStorage), and this browser remembers the unfinished upload
      await page.waitForSelector('.unfinished td');
      expect(await page.textContent('.unfinished')).toContain('orders.ndjson');
      await page.setInputFiles('input[type=file]', file);
      await page.waitForSelector('.notice .info');
      expect(await page.textContent('.notice')).toContain('Resuming the upload of orders.ndjson');
      await page.waitForSelector('[data-testid=upload-summary] h2:text("Upload complete")', {
        timeout: 30_000,
      });
      const number = async (id: string) =>
        Number((await page.textContent(`[data-testid=${id}] .stat-value`))!.replace(/,/g, ''));
      expect(await number('rows-inserted')).toBe(count);
      expect(await number('rows-failed')).toBe(1);
      expect(await page.textContent('[data-testid=row-errors]')).toContain('bad-1');
      // one upload, resumed twice: never started again from zero
      expect(creations).toHaveLength(1);
      expect(offsets[0]).toBe(0);
      expect(offsets.slice(1).every((o) => o > 0)).toBe(true);
      expect(offsets.length).toBeGreaterThanOrEqual(4);
      await shot('ingest');
    });

    it('creates a CSV export, watches it finish and downloads it', async () => {
      await go('exports');
      await page.selectOption('select[name=format]', 'csv');
      await page.check('input[name=status][value=refunded]');
      await page.click('form.filters button[type=submit]');
      const done = page.locator('[data-testid=exports-table] tr[data-state=complete]');
      await done.first().waitFor({ timeout: 30_000 });
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        done.first().getByRole('button', { name: 'Download' }).click(),
      ]);
      const csv = readFileSync((await download.path())!, 'utf8')
        .trim()
        .split(/\r?\n/);
      expect(csv[0]).toBe(
        'order_id,created_at,status,total_cents,currency,customer_name,customer_email,item_count',
      );
      const refunded = (
        await api<{ data: unknown[] }>(
          `/api/v1/tenants/${tenant.tenant_id}/orders/search?format=json&status=refunded&fields=order_id&limit=100000`,
        )
      ).data.length;
      expect(refunded).toBeGreaterThan(400);
      expect(csv.length - 1).toBe(refunded);
      expect(csv.slice(1).every((line) => line.split(',')[2] === 'refunded')).toBe(true);
      expect(download.suggestedFilename()).toMatch(/\.csv$/);
      await shot('exports');
    });

    it('shows live operations figures and manages tenants and keys with the admin token', async () => {
      await go('operations');
      await page.waitForSelector('[data-testid=ops-rss] .stat-value');
      expect(await page.textContent('[data-testid=ops-rss] .stat-value')).toMatch(/MB$/);
      await page.waitForSelector('[data-testid=ops-routes] td');
      await page.fill('input[name=admin_token]', ADMIN_TOKEN);
      await page.click('[data-testid=ops-admin] button[type=submit]');
      const tenants = page.locator('[data-testid=tenants-table]');
      await tenants.waitFor();
      expect(await tenants.textContent()).toContain('console-demo');
      await tenants.locator('tr', { hasText: 'console-demo' }).getByRole('button', { name: 'Keys' }).click();
      await page.getByRole('button', { name: 'Issue a key' }).click();
      const issued = (await page.locator('.keys code.api-key').textContent())!;
      // the key shown works against the public API
      const me = await fetch(`${server.url}/api/v1/me`, { headers: auth(issued) });
      expect(((await me.json()) as { tenant_id: number }).tenant_id).toBe(tenant.tenant_id);
      await page.waitForTimeout(2500); // a second sample for the live charts
      await shot('operations');
      // rotate it: a new key is shown, the old one stops working
      const keys = page.locator('[data-testid=keys-table] tbody tr');
      await keys.filter({ hasNotText: 'UTC' }).count();
      const row = keys.last();
      await row.getByRole('button', { name: 'Rotate' }).click();
      await expect
        .poll(async () => (await fetch(`${server.url}/api/v1/me`, { headers: auth(issued) })).status)
        .toBe(401);
      // the page shows the new key once the rotation (issue, then revoke) is done
      const rotated = (await page
        .locator('.keys .info', { hasText: 'rotated' })
        .locator('code.api-key')
        .textContent())!;
      expect(rotated).not.toBe(issued);
      expect((await fetch(`${server.url}/api/v1/me`, { headers: auth(rotated) })).status).toBe(200);
    });

    it('is usable on a phone: no sideways scrolling, the menu opens the pages', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await go('sales');
      await page.waitForSelector('[data-testid=total-orders]');
      expect(await page.evaluate(SCROLL_WIDTH)).toBeLessThanOrEqual(390);
      expect(await page.isVisible('nav')).toBe(false);
      await page.click('header .menu');
      await page.click('nav a[data-page=orders]');
      await page.waitForSelector('[data-testid=orders-table] tbody tr');
      expect(await page.evaluate(SCROLL_WIDTH)).toBeLessThanOrEqual(390);
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    it('signing out forgets the key; a key revoked while signed in ends the session with the reason', async () => {
      await go('sales');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForSelector('input[name=api_key]');
      expect(await page.evaluate('JSON.stringify(Object.keys(sessionStorage))')).toBe('[]');
      await page.waitForTimeout(300); // a late page render would replace the form
      expect(await page.isVisible('input[name=api_key]')).toBe(true);
      // sign in with a second key, then revoke it from elsewhere
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const extra = (await (
        await fetch(`${server.url}/api/v1/admin/tenants/${tenant.tenant_id}/keys`, {
          method: 'POST',
          headers: admin,
        })
      ).json()) as { api_key: string; key_id: number };
      await page.fill('input[name=api_key]', extra.api_key);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-testid=total-orders]');
      const revoked = await fetch(
        `${server.url}/api/v1/admin/tenants/${tenant.tenant_id}/keys/${extra.key_id}`,
        {
          method: 'DELETE',
          headers: admin,
        },
      );
      expect(revoked.status).toBeLessThan(300);
      await page.click('nav a[data-page=orders]');
      await page.waitForSelector('input[name=api_key]');
      expect(await page.locator('.problem-title').textContent()).toBe('The API key is not valid');
      expect(await page.evaluate('JSON.stringify(Object.keys(sessionStorage))')).toBe('[]');
    });

    it('raised no script error and no Content-Security-Policy violation on any page', () => {
      expect(pageErrors).toEqual([]);
    });
  },
);

describe.skipIf(skipReason !== null)(
  `console on the demo data${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let server: TestServer;
    let browser: Browser;
    let flagged = 0;
    let apiKey = '';
    const work = tempDataDir('orderflow-console-demo-');

    beforeAll(async () => {
      // what `npm run demo` does: the tiny dataset loaded offline, the server, the demo's price webhooks
      const { postDemoPriceEvents, prepareDemoData } = (await import(
        pathToFileURL(join(ROOT, 'dist/tools/lib/demo-script.js')).href
      )) as typeof import('../../tools/lib/demo-script.js');
      const dataDir = join(work, 'data');
      mkdirSync(dataDir);
      const demo = await prepareDemoData(dataDir, join(work, 'datasets'));
      apiKey = demo.apiKey;
      server = await startServer({ dataDir });
      flagged = await postDemoPriceEvents(server.url, demo.apiKey, demo.tenantId);
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      removeDir(work);
    });

    it('every page shows the demo tenant data, with no error', async () => {
      expect(flagged).toBeGreaterThanOrEqual(6);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}/console`);
      await page.fill('input[name=api_key]', apiKey);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-testid=total-orders]');
      const orders = Number(
        (await page.textContent('[data-testid=total-orders] .stat-value'))!.replace(/,/g, ''),
      );
      expect(orders).toBeGreaterThan(0);
      await page.waitForSelector('[data-testid=sales-categories] td');
      const waitFor: Record<string, string> = {
        orders: '[data-testid=orders-table] tbody tr:nth-child(100)',
        anomalies: '[data-testid=anomalies-table] tbody tr[data-event-id]',
        ingest: '[data-testid=dropzone]',
        exports: '[data-testid=exports-table] tbody tr',
        operations: '[data-testid=ops-rss]',
      };
      for (const [hash, selector] of Object.entries(waitFor)) {
        await page.goto(`${server.url}/console#/${hash}`);
        await page.waitForSelector(selector);
        expect(await page.locator('.problem').count(), `a problem on ${hash}`).toBe(0);
      }
      await page.goto(`${server.url}/console#/anomalies`);
      await expect
        .poll(() => page.locator('[data-testid=anomalies-table] tbody tr[data-event-id]').count())
        .toBe(flagged);
      expect(errors).toEqual([]);
    });
  },
);
