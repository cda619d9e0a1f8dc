/**
 * Builds the web console (console/) into dist/console: one JS and one CSS bundle named by their content
 * hash (served as immutable), and index.html naming them (served fresh). Part of `npm run build`.
 *   node dist/tools/build-console.js [--dev]   (--dev: not minified)
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { build } from 'esbuild';
import { CONSOLE_BUILD_DIR, CONSOLE_SOURCE_DIR, PROJECT_ROOT } from '../src/paths.js';

/** Browsers the console is built for: current Chromium and Firefox, and phones' browsers of the last years. */
const TARGETS = ['chrome110', 'firefox115', 'safari16'];

export async function buildConsole(
  options: { minify?: boolean } = {},
): Promise<{ js: string; css: string; bytes: number }> {
  const assets = join(CONSOLE_BUILD_DIR, 'assets');
  rmSync(CONSOLE_BUILD_DIR, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: [join(CONSOLE_SOURCE_DIR, 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: TARGETS,
    minify: options.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'linked',
    outdir: assets,
    entryNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
  });
  let js = '';
  let css = '';
  let bytes = 0;
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (file.endsWith('.map')) continue;
    bytes += output.bytes;
    if (file.endsWith('.js')) js = basename(file);
    if (file.endsWith('.css')) css = basename(file);
  }
  if (!js || !css) throw new Error('the console build produced no JS or no CSS bundle');
  const html = readFileSync(join(CONSOLE_SOURCE_DIR, 'index.html'), 'utf8')
    .replace('{{js}}', `/console/assets/${js}`)
    .replace('{{css}}', `/console/assets/${css}`);
  writeFileSync(join(CONSOLE_BUILD_DIR, 'index.html'), html);
  return { js, css, bytes };
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const built = await buildConsole({ minify: !process.argv.includes('--dev') });
  process.stdout.write(
    `console built: ${relative(PROJECT_ROOT, CONSOLE_BUILD_DIR)} (${built.js}, ${built.css}; ${Math.round(built.bytes / 1024)} KiB)\n`,
  );
}
