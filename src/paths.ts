import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, found from this file whether it runs from src/ (tests) or dist/src/ (build). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'sql'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the orderflow package root');
    dir = parent;
  }
  return dir;
}

export const PROJECT_ROOT = findRoot();
export const SQL_DIR = join(PROJECT_ROOT, 'sql');
/** The console's source (TypeScript for the browser) and its built assets (`npm run build`). */
export const CONSOLE_SOURCE_DIR = join(PROJECT_ROOT, 'console');
export const CONSOLE_BUILD_DIR = join(PROJECT_ROOT, 'dist', 'console');
