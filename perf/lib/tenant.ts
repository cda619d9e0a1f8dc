import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

/** Creates a tenant through the admin API and returns its key's Authorization header. */
export async function createTenant(
  url: string,
  adminToken: string,
  name: string,
): Promise<{ tenantId: number; auth: { authorization: string } }> {
  const res = await fetch(`${url}/api/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 201) throw new Error(`creating tenant ${name}: HTTP ${res.status} ${await res.text()}`);
  const t = (await res.json()) as { tenant_id: number; api_key: string };
  return { tenantId: t.tenant_id, auth: { authorization: `Bearer ${t.api_key}` } };
}

/**
 * POSTs a file to an ingest endpoint, streamed, on a connection of its own (a kept-alive one may be closed
 * by the server's keep-alive timeout just as a long pause ends); returns the summary (throws on non-200).
 */
export async function postNdjson(
  url: string,
  auth: { authorization: string },
  path: string,
  file: string,
  headers: Record<string, string> = { 'content-type': 'application/x-ndjson' },
): Promise<{ rows_inserted: number; rows_failed: number; rows_duplicate: number }> {
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: 'POST', headers: { ...auth, ...headers }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
  });
  if (status !== 200) throw new Error(`POST ${path}: HTTP ${status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as { rows_inserted: number; rows_failed: number; rows_duplicate: number };
}

/** Loads a dataset tenant's products (orders must name existing products). */
export function loadProducts(url: string, auth: { authorization: string }, tenantDir: string) {
  return postNdjson(url, auth, '/api/v1/ingest/products/', join(tenantDir, 'products.ndjson'));
}
