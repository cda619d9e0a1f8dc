import { expect } from 'vitest';
import { auth, eventually, type TestServer } from './server.js';

export type ExportStatus = {
  export_id: string;
  state: string;
  rows_written: number;
  bytes_written: number;
  size: number | null;
  sha256: string | null;
  attempts: number;
  resumed_from_rows: number | null;
  status_url: string;
  download_url: string;
  expires_at: string | null;
};

export async function createExport(s: TestServer, t: { tenant_id: number; api_key: string }, body: unknown) {
  const res = await fetch(`${s.url}/api/v1/tenants/${t.tenant_id}/reports/export`, {
    method: 'POST',
    headers: auth(t.api_key, { 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(202);
  const status = (await res.json()) as ExportStatus;
  expect(res.headers.get('location')).toBe(status.status_url);
  return status;
}

export async function status(s: TestServer, key: string, url: string): Promise<ExportStatus> {
  const res = await fetch(`${s.url}${url}`, { headers: auth(key) });
  expect(res.status).toBe(200);
  return (await res.json()) as ExportStatus;
}

export async function finished(
  s: TestServer,
  key: string,
  created: ExportStatus,
  timeoutMs = 20_000,
): Promise<ExportStatus> {
  let last: ExportStatus = created;
  await eventually(
    async () => {
      last = await status(s, key, created.status_url);
      return last.state === 'complete' || last.state === 'failed';
    },
    timeoutMs,
    'export to finish',
  );
  expect(last.state).toBe('complete');
  return last;
}

export async function download(
  s: TestServer,
  key: string,
  st: ExportStatus,
  headers: Record<string, string> = {},
) {
  return fetch(`${s.url}${st.download_url}`, { headers: auth(key, headers) });
}
