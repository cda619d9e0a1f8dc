import { join } from 'node:path';
import { send } from './http.js';

/** Creates a tenant through the admin API and returns its key, and the key's Authorization header. */
export async function createTenant(
  url: string,
  adminToken: string,
  name: string,
): Promise<{ tenantId: number; apiKey: string; auth: { authorization: string } }> {
  const res = await send(`${url}/api/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 201) throw new Error(`creating tenant ${name}: HTTP ${res.status} ${res.text}`);
  const t = JSON.parse(res.text) as { tenant_id: number; api_key: string };
  return { tenantId: t.tenant_id, apiKey: t.api_key, auth: { authorization: `Bearer ${t.api_key}` } };
}

/** POSTs a file to an ingest endpoint, streamed; returns the summary (throws on a non-200). */
export async function postNdjson(
  url: string,
  auth: { authorization: string },
  path: string,
  file: string,
  headers: Record<string, string> = { 'content-type': 'application/x-ndjson' },
): Promise<{ rows_inserted: number; rows_failed: number; rows_duplicate: number }> {
  const { status, text } = await send(`${url}${path}`, {
    method: 'POST',
    headers: { ...auth, ...headers },
    file,
  });
  if (status !== 200) throw new Error(`POST ${path}: HTTP ${status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as { rows_inserted: number; rows_failed: number; rows_duplicate: number };
}

/** Loads a dataset tenant's products (orders must name existing products). */
export function loadProducts(url: string, auth: { authorization: string }, tenantDir: string) {
  return postNdjson(url, auth, '/api/v1/ingest/products/', join(tenantDir, 'products.ndjson'));
}
