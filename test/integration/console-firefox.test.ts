import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ordersInRange, seedConsoleTenant, seedOrder } from '../helpers/console-data.js';
import { Firefox } from '../helpers/marionette.js';
import { auth, ROOT, removeDir, startServer, type TestServer, tempDataDir } from '../helpers/server.js';

/**
 * The console in Firefox (Debian's Firefox ESR, headless, driven through Marionette): sign in, sales drawn
 * from the tenant's data, orders paged on scroll, an anomaly arriving live. The Chromium tests
 * (console-browser.test.ts) cover every page; this one proves the same code runs in the other engine.
 */
const FIREFOX =
  process.env.FIREFOX_PATH ?? ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p));
const skipReason = FIREFOX
  ? null
  : "no Firefox: install Debian's firefox-esr (.ci/run does) or set FIREFOX_PATH";

describe.skipIf(skipReason !== null)(
  `console in Firefox${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let server: TestServer;
    let tenant: { tenant_id: number; api_key: string };
    let firefox: Firefox;
    const files = tempDataDir('orderflow-firefox-files-');

    beforeAll(async () => {
      server = await startServer();
      tenant = await seedConsoleTenant(server, 'console-firefox', 600);
      firefox = await Firefox.launch(FIREFOX!, files);
      await firefox.command('WebDriver:SetWindowRect', { width: 1280, height: 900 });
    }, 120_000);

    afterAll(async () => {
      await firefox?.close();
      await server?.stop();
      if (server) removeDir(server.dataDir);
    });

    const count = (css: string) =>
      firefox.script<number>(`return document.querySelectorAll(${JSON.stringify(css)}).length;`);

    it('signs in and draws the sales of the tenant', async () => {
      await firefox.navigate(`${server.url}/console`);
      await firefox.type('input[name=api_key]', tenant.api_key);
      await firefox.click('button[type=submit]');
      const shown = await firefox.until<string>(
        "return document.querySelector('[data-testid=total-orders] .stat-value')?.textContent;",
        15_000,
        'the sales totals',
      );
      const [start, end] = await firefox.script<[string, string]>(
        "return [document.querySelector('input[name=start_date]').value, document.querySelector('input[name=end_date]').value];",
      );
      expect(Number(shown.replace(/,/g, ''))).toBe(await ordersInRange(server, tenant, start, end));
      // the revenue line's blue on the chart's canvas
      const blue = await firefox.until<number>(
        `const canvas = document.querySelector('[data-testid=chart-revenue] canvas');
       const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
       let n = 0;
       for (let i = 0; i < data.length; i += 4) if (data[i] < 80 && data[i + 2] > 200 && data[i + 3] > 200) n++;
       return n > 200 ? n : 0;`,
        5000,
        'the revenue line',
      );
      expect(blue).toBeGreaterThan(200);
      expect(await count('.problem')).toBe(0);
      await firefox.screenshot(join(ROOT, 'docs', 'console', 'sales-firefox.png'));
    });

    it('pages through orders as the user scrolls', async () => {
      await firefox.navigate(`${server.url}/console#/orders`);
      await firefox.until(
        'return document.querySelectorAll("[data-testid=orders-table] tbody tr").length === 100;',
      );
      await firefox.script("document.querySelector('.sentinel').scrollIntoView();");
      await firefox.until(
        'return document.querySelectorAll("[data-testid=orders-table] tbody tr").length === 200;',
      );
      const ids = await firefox.script<string[]>(
        "return [...document.querySelectorAll('[data-testid=orders-table] tbody tr td:first-child')].map((td) => td.textContent);",
      );
      expect(new Set(ids).size).toBe(200);
    });

    it('shows an anomaly posted meanwhile within 2 s', async () => {
      await firefox.navigate(`${server.url}/console#/anomalies`);
      await firefox.until(
        "return document.querySelector('[data-testid=stream-state]')?.dataset.state === 'open';",
      );
      const posted = Date.now();
      const res = await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/products/3/price-event`, {
        method: 'POST',
        headers: auth(tenant.api_key, { 'content-type': 'application/json' }),
        body: JSON.stringify({
          event_id: 'firefox-live-1',
          price_cents: 4000,
          observed_at: new Date().toISOString(),
        }),
      });
      expect(res.status).toBe(201);
      await firefox.until(
        'return document.querySelector(\'tr[data-event-id="firefox-live-1"]\') !== null;',
        2000,
      );
      expect(Date.now() - posted).toBeLessThan(2000);
    });

    it('uploads a file through tus and shows its summary', async () => {
      const file = join(files, 'firefox-orders.ndjson');
      const lines = Array.from({ length: 5000 }, (_, n) => JSON.stringify(seedOrder(n, 'F')));
      lines.splice(10, 0, '{"order_id":"bad-ff","status":"lost"}');
      writeFileSync(file, `${lines.join('\n')}\n`);
      await firefox.navigate(`${server.url}/console#/ingest`);
      await firefox.until("return document.querySelector('input[type=file]') !== null;");
      await firefox.type('input[type=file]', file);
      await firefox.until(
        "return document.querySelector('[data-testid=upload-summary] h2')?.textContent === 'Upload complete';",
        30_000,
        'the upload summary',
      );
      const stat = (id: string) =>
        firefox.script<string>(
          `return document.querySelector('[data-testid=${id}] .stat-value').textContent;`,
        );
      expect(await stat('rows-inserted')).toBe('5,000');
      expect(await stat('rows-failed')).toBe('1');
    });

    it('creates a CSV export and downloads it', async () => {
      await firefox.navigate(`${server.url}/console#/exports`);
      await firefox.until("return document.querySelector('input[name=status][value=refunded]') !== null;");
      await firefox.click('input[name=status][value=refunded]');
      await firefox.click('form.filters button[type=submit]');
      await firefox.until(
        "return document.querySelector('[data-testid=exports-table] tr[data-state=complete] button') !== null;",
        30_000,
        'the finished export',
      );
      await firefox.click('[data-testid=exports-table] tr[data-state=complete] button');
      // the same rows as the API lists for the same filter
      const listed = (
        (await (
          await fetch(
            `${server.url}/api/v1/tenants/${tenant.tenant_id}/orders/search?format=json&status=refunded&fields=order_id&limit=100000`,
            { headers: auth(tenant.api_key) },
          )
        ).json()) as { data: unknown[] }
      ).data.length;
      expect(listed).toBeGreaterThan(0);
      const rowsSaved = () => {
        const name = readdirSync(files).find((f) => f.endsWith('.csv'));
        return name ? readFileSync(join(files, name), 'utf8').trim().split(/\r?\n/).length - 1 : -1;
      };
      for (const until = Date.now() + 10_000; rowsSaved() !== listed && Date.now() < until; )
        await new Promise((r) => setTimeout(r, 100));
      expect(rowsSaved()).toBe(listed);
    });
  },
);
