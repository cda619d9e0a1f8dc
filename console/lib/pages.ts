/** The console's pages and the hash routes that show them (#/sales, #/orders, …). */

export const PAGES = [
  { id: 'sales', title: 'Sales' },
  { id: 'orders', title: 'Orders' },
  { id: 'anomalies', title: 'Price anomalies' },
  { id: 'ingest', title: 'Ingest' },
  { id: 'exports', title: 'Exports' },
  { id: 'operations', title: 'Operations' },
] as const;
export type PageId = (typeof PAGES)[number]['id'];

export function pageFromHash(hash: string): PageId {
  const id = hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return PAGES.find((p) => p.id === id)?.id ?? 'sales';
}
