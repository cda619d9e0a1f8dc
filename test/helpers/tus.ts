import { expect } from 'vitest';
import { ndjson, product } from './data.js';
import { auth, eventually, type TestServer } from './server.js';

/** tus helpers shared by the upload tests. */
export const BASE = '/api/v1/ingest/orders/uploads';
export const TUS = { 'tus-resumable': '1.0.0' };
export type UploadSummary = {
  state: string;
  upload_offset: number;
  rows_received: number;
  rows_inserted: number;
  rows_duplicate: number;
  rows_failed: number;
  errors: { line: number; code: string; order_id?: string; field?: string }[];
  errors_truncated: boolean;
  error: string | null;
};

export async function withProducts(s: TestServer, key: string) {
  const res = await fetch(`${s.url}/api/v1/ingest/products/`, {
    method: 'POST',
    headers: auth(key, { 'content-type': 'application/x-ndjson' }),
    body: ndjson(Array.from({ length: 8 }, (_, i) => product(i + 1))),
  });
  expect(res.status).toBe(200);
}

export async function create(s: TestServer, key: string, length: number | null, metadata = '') {
  const res = await fetch(`${s.url}${BASE}`, {
    method: 'POST',
    headers: auth(key, {
      ...TUS,
      ...(length === null ? { 'upload-defer-length': '1' } : { 'upload-length': String(length) }),
      ...(metadata ? { 'upload-metadata': metadata } : {}),
    }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  expect(res.headers.get('tus-resumable')).toBe('1.0.0');
  return `${s.url}${res.headers.get('location')}`;
}

export function patch(
  url: string,
  key: string,
  offset: number,
  body: Uint8Array | string | ReadableStream<Uint8Array>,
  extra: Record<string, string> = {},
) {
  return fetch(url, {
    method: 'PATCH',
    headers: auth(key, {
      ...TUS,
      'content-type': 'application/offset+octet-stream',
      'upload-offset': String(offset),
      ...extra,
    }),
    body,
    duplex: 'half',
  } as RequestInit);
}

export async function head(url: string, key: string) {
  return fetch(url, { method: 'HEAD', headers: auth(key, TUS) });
}

export async function summary(url: string, key: string): Promise<UploadSummary> {
  const res = await fetch(url, { headers: auth(key) });
  expect(res.status).toBe(200);
  return (await res.json()) as UploadSummary;
}

export async function completed(url: string, key: string, timeoutMs = 20_000): Promise<UploadSummary> {
  let last: UploadSummary | null = null;
  await eventually(
    async () => {
      last = await summary(url, key);
      return last.state === 'complete' || last.state === 'failed';
    },
    timeoutMs,
    'upload to complete',
  );
  expect(last!.state, `the upload ended ${last!.state}: ${last!.error}`).toBe('complete');
  return last!;
}
