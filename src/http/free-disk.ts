import type { StorageHealth } from './health.js';
import { Problem } from './problem.js';

/**
 * Refuses work that would write to disk (a new export, a new upload) when free space is at or under the
 * server's minimum (--min-free-disk-mb), or would not hold `bytes` more: 507 before anything is written,
 * rather than a job or an upload that fails half-way.
 */
export async function requireFreeDisk(health: StorageHealth, bytes = 0): Promise<void> {
  const { writable, free_bytes } = await health.writable();
  if (!writable || free_bytes - bytes <= health.minimumFree)
    throw new Problem('insufficient_storage', 'The server is low on disk space; retry later.', {
      headers: { 'Retry-After': '60' },
      extra: { free_bytes },
    });
}
