/**
 * Uploads a large NDJSON (or .ndjson.gz) orders file through tus 1.0.0 with a progress bar. Kill it at any
 * time and run the same command again: it asks the server for the durable offset and continues from there.
 *
 *   npm run upload -- ./orders.ndjson.gz --url http://127.0.0.1:8080 --key KEY
 *
 * The upload URL is remembered in FILE.tus.json (with the file's size and mtime, so a changed file starts
 * over). When every byte is in, it waits for processing and prints the ingest summary as one JSON line.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { failWith, helpRequested, intFlag, pace, TRANSFER_FLAGS } from './lib/cli.js';
import { Progress } from './lib/progress.js';

const USAGE =
  'usage: upload FILE --url http://host:port --key API_KEY [--patch-bytes N] [--limit-rate BYTES_PER_S] [--no-wait]';

const fail: (message: string, code?: number) => never = failWith('upload');

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    ...TRANSFER_FLAGS,
    url: { type: 'string', default: process.env.ORDERFLOW_URL ?? 'http://127.0.0.1:8080' },
    'patch-bytes': { type: 'string', default: String(64 * 1024 * 1024) },
  },
});
helpRequested(values.help, USAGE);
const path = positionals[0];
if (!path || !values.key) fail(USAGE, 2);
if (!existsSync(path)) fail(`no such file: ${path}`, 2);
const patchBytes = Number(values['patch-bytes']);
const limitRate = intFlag(values['limit-rate'], 'limit-rate', fail);
if (!Number.isSafeInteger(patchBytes) || patchBytes < 1) fail('--patch-bytes must be a positive integer', 2);

const TUS = { 'tus-resumable': '1.0.0', authorization: `Bearer ${values.key}` };
const endpoint = new URL('/api/v1/ingest/orders/uploads', values.url).href;
const stat = statSync(path);
const size = stat.size;
const stateFile = `${path}.tus.json`;
const fingerprint = { size, mtimeMs: stat.mtimeMs, endpoint };
const gzip = path.endsWith('.gz');
const progress = new Progress(values.quiet);

interface Saved {
  uploadUrl: string;
  size: number;
  mtimeMs: number;
  endpoint: string;
}

/** The upload to continue (its URL and the server's durable offset), or null to start a new one. */
async function previous(): Promise<{ url: string; offset: number } | null> {
  if (!existsSync(stateFile)) return null;
  let saved: Saved;
  try {
    saved = JSON.parse(readFileSync(stateFile, 'utf8')) as Saved;
  } catch {
    process.stderr.write(`${stateFile} is not readable: starting over\n`);
    return null;
  }
  if (saved.size !== size || saved.mtimeMs !== stat.mtimeMs || saved.endpoint !== endpoint) return null;
  const res = await fetch(saved.uploadUrl, { method: 'HEAD', headers: TUS });
  if (res.status !== 200) return null; // expired or terminated: start over
  return { url: saved.uploadUrl, offset: Number(res.headers.get('upload-offset')) };
}

async function create(): Promise<string> {
  const meta = [`filename ${Buffer.from(basename(path!)).toString('base64')}`];
  if (gzip) meta.push(`encoding ${Buffer.from('gzip').toString('base64')}`);
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { ...TUS, 'upload-length': String(size), 'upload-metadata': meta.join(',') },
  });
  if (res.status !== 201) fail(`create: ${res.status} ${await res.text()}`);
  const url = new URL(res.headers.get('location')!, endpoint).href;
  // written aside and renamed over: killed at any moment, the tool leaves the old state or the new one,
  // never half a file (and a reader never sees one)
  writeFileSync(`${stateFile}.tmp`, JSON.stringify({ uploadUrl: url, ...fingerprint } satisfies Saved));
  renameSync(`${stateFile}.tmp`, stateFile);
  return url;
}

/** One PATCH of [offset, offset + length): the body is read from the file as it is sent. */
async function send(
  url: string,
  offset: number,
  length: number,
  onBytes: (n: number, position: number) => Promise<void>,
) {
  const fd = openSync(path!, 'r');
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  let position = offset;
  const end = offset + length;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (position >= end) {
        close();
        controller.close();
        return;
      }
      const buffer = Buffer.allocUnsafe(Math.min(256 * 1024, end - position));
      const n = readSync(fd, buffer, 0, buffer.length, position);
      position += n;
      controller.enqueue(buffer.subarray(0, n));
      await onBytes(n, position);
    },
    cancel: close,
  });
  const res = await fetch(url, {
    method: 'PATCH',
    headers: { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
    body,
    duplex: 'half',
  } as RequestInit);
  close();
  if (res.status === 409) {
    const problem = (await res.json().catch(() => ({}))) as { code?: string };
    // the upload is over (its processing failed, or it is complete): its summary says how
    if (problem.code === 'upload_ended') return size;
    // the server still finishes an earlier, interrupted PATCH, or holds another offset: ask it again
    conflicts++;
    if (conflicts > 50) fail(`PATCH at ${offset}: still 409 after ${conflicts} tries`);
    await sleep(200);
    return currentOffset(url);
  }
  if (res.status !== 204) fail(`PATCH at ${offset}: ${res.status} ${await res.text()}`);
  return Number(res.headers.get('upload-offset'));
}

let conflicts = 0;

async function currentOffset(url: string): Promise<number> {
  const res = await fetch(url, { method: 'HEAD', headers: TUS });
  if (res.status !== 200) fail(`HEAD: ${res.status}`);
  return Number(res.headers.get('upload-offset'));
}

const found = await previous();
const url = found?.url ?? (await create());
let offset = found?.offset ?? 0;
const resumedFrom = offset;
if (found && !values.quiet) process.stderr.write(`resuming at byte ${offset} of ${size}\n`);
const started = performance.now();
let moved = 0;
while (offset < size) {
  offset = await send(url, offset, Math.min(patchBytes, size - offset), async (n, position) => {
    moved += n;
    progress.bar(position, size, moved);
    await pace(limitRate, started, moved);
  });
}
progress.bar(size, size, moved, true);

if (values['no-wait']) {
  process.stdout.write(`${JSON.stringify({ upload_url: url, offset, resumed_from: resumedFrom })}\n`);
  process.exit(0);
}
for (;;) {
  const res = await fetch(url, { headers: { authorization: TUS.authorization } });
  const summary = (await res.json()) as { state: string; rows_inserted: number };
  if (summary.state === 'complete' || summary.state === 'failed') {
    rmSync(stateFile, { force: true });
    progress.say(`upload ${summary.state}`, true);
    process.stdout.write(`${JSON.stringify({ upload_url: url, resumed_from: resumedFrom, ...summary })}\n`);
    process.exit(summary.state === 'complete' ? 0 : 1);
  }
  progress.say(`processing: ${summary.rows_inserted} rows inserted`);
  await sleep(500);
}
