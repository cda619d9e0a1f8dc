/**
 * Downloads an export with a progress bar, resumes an interrupted download with Range + If-Range, and
 * verifies the sha256 before the file gets its final name.
 *
 *   npm run download -- http://127.0.0.1:8080/api/v1/tenants/1/reports/exports/exp_... --key KEY [--out FILE]
 *
 * The partial file is FILE.part; kill the command at any time and run it again to continue where it stopped.
 * If the export changed meanwhile (another ETag), If-Range makes the server send it whole and we start over.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type ExportCompression, type ExportFormat, exportFileName } from '../src/domain/export.js';
import { sha256OfFile } from '../src/storage/file-hash.js';
import { failWith, helpRequested, intFlag, pace, TRANSFER_FLAGS } from './lib/cli.js';
import { Progress } from './lib/progress.js';

const USAGE =
  'usage: download <export status or download URL> --key API_KEY [--out FILE] [--limit-rate BYTES_PER_S] [--no-wait]';

const fail: (message: string, code?: number) => never = failWith('download');

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    ...TRANSFER_FLAGS,
    out: { type: 'string' },
  },
});
helpRequested(values.help, USAGE);
const target = positionals[0];
if (!target || !values.key) fail(USAGE, 2);
const limitRate = intFlag(values['limit-rate'], 'limit-rate', fail);

const statusUrl = target.replace(/\/download\/?$/, '');
const headers = { authorization: `Bearer ${values.key}` };

interface ExportStatus {
  export_id: string;
  format: ExportFormat;
  compression: ExportCompression;
  state: string;
  rows_written: number;
  size: number | null;
  sha256: string | null;
  download_url: string;
  error: string | null;
}

const progress = new Progress(values.quiet);

async function getStatus(): Promise<ExportStatus> {
  const res = await fetch(statusUrl, { headers });
  if (res.status !== 200) fail(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as ExportStatus;
}

async function waitForFile(): Promise<ExportStatus> {
  for (;;) {
    const status = await getStatus();
    if (status.state === 'complete') return status;
    if (status.state === 'failed') fail(`export failed: ${status.error}`);
    if (status.state === 'expired') fail('export expired');
    if (values['no-wait']) fail(`export is ${status.state}`);
    progress.say(`waiting: export ${status.state}, ${status.rows_written} rows written`);
    await sleep(500);
  }
}

const status = await waitForFile();
const out = values.out ?? exportFileName(status.export_id, status.format, status.compression);
const part = `${out}.part`;
const size = status.size!;
const etag = `"${status.sha256}"`;

let have = existsSync(part) ? statSync(part).size : 0;
if (have > size) {
  rmSync(part);
  have = 0;
}
const requestHeaders: Record<string, string> = { ...headers };
if (have > 0 && have < size) {
  requestHeaders.range = `bytes=${have}-`;
  requestHeaders['if-range'] = etag;
}
let resumedFrom = 0;
if (have < size || size === 0) {
  const origin = new URL(statusUrl).origin;
  const res = await fetch(new URL(status.download_url, origin), { headers: requestHeaders });
  if (res.status === 206) {
    resumedFrom = have;
    if (!values.quiet) process.stderr.write(`resuming at byte ${have} of ${size}\n`);
  } else if (res.status === 200) {
    have = 0; // a fresh copy: the export changed, or there was nothing to resume
  } else fail(`download ${res.status}: ${await res.text()}`);
  if (res.headers.get('etag') !== etag) fail('the export changed while downloading; run again');
  const fd = openSync(part, have === 0 ? 'w' : 'a');
  const started = performance.now();
  let received = 0;
  const bytesBefore = have;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      writeSync(fd, chunk);
      received += chunk.length;
      have += chunk.length;
      progress.bar(have, size, have - bytesBefore);
      await pace(limitRate, started, received);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  progress.bar(have, size, have - bytesBefore, true);
}
if (have !== size) fail(`got ${have} bytes, expected ${size}; run again to resume`);
const actual = await sha256OfFile(part);
if (actual !== status.sha256) {
  rmSync(part, { force: true });
  fail(`sha256 mismatch (${actual} != ${status.sha256}); the partial file was removed, run again`);
}
renameSync(part, out);
process.stdout.write(`${JSON.stringify({ file: out, size, sha256: actual, resumed_from: resumedFrom })}\n`);
