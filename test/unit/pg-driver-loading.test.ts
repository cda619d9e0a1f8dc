import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createWriteLockBuffer } from '../../src/storage/write-lock.js';
import { ROOT } from '../helpers/server.js';

interface Loaded {
  /** the pg driver was in the thread's module cache once every module was imported */
  afterImports: boolean;
  /** and after loadPgDriver(): shows the check sees the driver when it is there */
  afterDriver: boolean;
}

/**
 * A fresh thread, started as the pool starts its threads on SQLite, imports the built `modules`, then says
 * whether the `pg` package was loaded (CommonJS packages imported from ESM land in `require.cache`).
 */
function pgLoadedBy(modules: readonly string[]): Promise<Loaded> {
  const built = (path: string) => new URL(`dist/${path}`, `file://${ROOT}`).href;
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const loaded = () => Object.keys(require.cache).some((path) => path.includes('/node_modules/pg/'));
    (async () => {
      for (const module of workerData.modules) await import(module);
      const afterImports = loaded();
      await (await import(workerData.driver)).loadPgDriver();
      parentPort.postMessage({ afterImports, afterDriver: loaded() });
    })().catch((error) => parentPort.postMessage({ error: String(error && error.stack) }));`;
  const worker = new Worker(source, {
    eval: true,
    workerData: {
      modules: modules.map(built),
      driver: built('src/storage/postgres/driver.js'),
      dataDir: ROOT,
      logLevel: 'silent',
      writeLock: createWriteLockBuffer(),
      role: 'pool',
      sqlite: {},
      storage: { kind: 'sqlite', databaseUrl: null },
    },
  });
  return new Promise<Loaded>((resolve, reject) => {
    worker.once('message', (message: Loaded & { error?: string }) => {
      void worker.terminate();
      if (message.error) reject(new Error(message.error));
      else resolve(message);
    });
    worker.once('error', reject);
  });
}

describe('the PostgreSQL driver on a server that runs on SQLite', () => {
  // every thread that loads it carries it in its own heap (src/storage/postgres/driver.ts)
  it.each([
    ['a pool worker or a writer lane', ['workers/index.js']],
    ['the upkeep thread', ['workers/upkeep.js']],
    ['the main thread', ['src/server.js', 'src/app.js']],
  ])('is not loaded by %s until PostgreSQL is used', async (_thread, modules) => {
    expect(await pgLoadedBy(modules)).toEqual({ afterImports: false, afterDriver: true });
  });
});
