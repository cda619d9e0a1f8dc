/**
 * The newcomer's path: a tiny generated dataset loaded into a fresh data dir, the server started on it,
 * and curl commands printed with a working API key. Ctrl-C stops it.
 *   npm run demo [-- --port 8080]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { startServer } from '../src/server.js';
import { demoSteps, formatSteps, postDemoPriceEvents, prepareDemoData } from './lib/demo-script.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT ?? '8080' } } });
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
const dataDir = resolve('data', `demo-${stamp}`);
const out = resolve('datasets', 'demo');
mkdirSync(dataDir, { recursive: true });

process.stdout.write(`Generating a tiny dataset in ${relative('.', out)} ...\n`);
const demo = await prepareDemoData(dataDir, out);
process.stdout.write(
  `Loaded ${demo.loaded.map((r) => `${r.rows_inserted} ${r.table}`).join(', ')} into ${relative('.', dataDir)}\n`,
);

const adminToken = randomBytes(18).toString('base64url');
const tryStart = async (port: string) =>
  startServer(
    loadConfig(['--port', port, '--data', dataDir, '--admin-token', adminToken, '--log-level', 'warn']),
  );
let server: Awaited<ReturnType<typeof tryStart>>;
try {
  server = await tryStart(values.port!);
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
  server = await tryStart('0');
}
const base = `http://127.0.0.1:${server.port}`;
const flagged = await postDemoPriceEvents(base, demo.apiKey, demo.tenantId);
const steps = demoSteps({
  base,
  apiKey: demo.apiKey,
  tenantId: demo.tenantId,
  ordersFile: relative('.', demo.ordersFile),
  adminToken,
  tmp: '/tmp',
});

process.stdout.write(`
Orderflow is running at ${base}  (tenant ${demo.tenantId}, data in ${relative('.', dataDir)})

Open the console:  ${base}/console   (${flagged} price anomalies wait for review there)
  API key to paste:   ${demo.apiKey}
  admin token (Operations page, tenants and keys):  ${adminToken}

${formatSteps(steps)}

Ctrl-C stops the server.
`);

const stop = () => {
  server.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
