// Every command a newcomer is told to paste works: the ones `npm run demo` prints (from the same
// tools/lib/demo-script.ts) and the README's short tour, each run by bash against a real server.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  ROOT,
  removeDir,
  startServer,
  type TestServer,
  tempDataDir,
} from '../helpers/server.js';
import { type CommandRun, failureOf, runCommands, splitCommands } from '../helpers/shell-commands.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) removeDir(d);
});

function expectAllPassed(runs: CommandRun[], expectedCount: number) {
  expect(runs).toHaveLength(expectedCount);
  const failures = runs.flatMap((r) => {
    const why = failureOf(r);
    return why ? [`${r.command}\n  -> ${why}`] : [];
  });
  expect(failures).toEqual([]);
}

const missingTools = ['curl', 'gzip', 'bash'].filter(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
);

describe.skipIf(missingTools.length > 0)(
  `printed commands${missingTools.length ? ` (skipped: ${missingTools.join(', ')} not installed; .ci/run installs them)` : ''}`,
  () => {
    it('every command the demo prints succeeds', async () => {
      const work = tempDataDir('orderflow-demo-');
      dirs.push(work);
      const dataDir = join(work, 'data');
      mkdirSync(dataDir);
      // the built module, as `npm run demo` runs it: its pool starts the built workers
      const { demoSteps, prepareDemoData } = (await import(
        pathToFileURL(join(ROOT, 'dist/tools/lib/demo-script.js')).href
      )) as typeof import('../../tools/lib/demo-script.js');
      const demo = await prepareDemoData(dataDir, join(work, 'datasets'));
      const server = await startServer({ dataDir });
      servers.push(server);
      const steps = demoSteps({
        base: server.url,
        apiKey: demo.apiKey,
        tenantId: demo.tenantId,
        ordersFile: demo.ordersFile,
        adminToken: ADMIN_TOKEN,
        tmp: work,
      });
      const commands = steps.flatMap((s) => s.commands);
      expect(commands.join('\n')).toContain('group_by=month'); // the question the demo used to get a 400 for
      expectAllPassed(await runCommands(commands, ROOT), commands.length);
    });

    it("every command of the README's short tour succeeds", async () => {
      const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
      const tour = /```sh\n(# terminal 2[\s\S]*?)```/.exec(readme)?.[1];
      expect(tour, 'the README tour block').toBeDefined();
      const work = tempDataDir('orderflow-tour-');
      dirs.push(work);
      const server = await startServer({ dataDir: join(work, 'data-tour') });
      servers.push(server);
      // the tour's server, data dir and scratch files, moved to this test's
      const localised = tour!
        .replaceAll('/tmp/', `${work}/`) // first: the paths below are under /tmp too
        .replaceAll('http://127.0.0.1:8080', server.url)
        .replaceAll('./data-tour', server.dataDir)
        .replaceAll('./datasets/tour', join(work, 'datasets'))
        .replaceAll('datasets/tour', join(work, 'datasets'));
      const commands = splitCommands(localised);
      expect(commands.length).toBeGreaterThan(20);
      expectAllPassed(await runCommands(commands, ROOT), commands.length);
    });
  },
);
