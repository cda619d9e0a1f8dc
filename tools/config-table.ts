/**
 * Writes the README's configuration table from the server's option declarations (src/config/options.ts), between
 * its `options-table` markers; test/unit/config.test.ts fails when the two differ.
 *   npm run build && node dist/tools/config-table.js
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { optionsMarkdownTable } from '../src/config/help.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { replaceOptionsTable } from './lib/readme-table.js';

const path = join(PROJECT_ROOT, 'README.md');
writeFileSync(path, replaceOptionsTable(readFileSync(path, 'utf8'), optionsMarkdownTable()));
process.stdout.write('README.md: configuration table written\n');
