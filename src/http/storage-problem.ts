import { storageFault } from '../storage/storage-fault.js';
import { Problem } from './problem.js';

/**
 * The problem a storage failure answers, or null when it is not one (a bug: 500). Disk full is 507 (the
 * client may retry once space is back; /readyz says when); a damaged or unreadable shard is 503
 * tenant_unavailable (other tenants are served); a lock held too long is 503 with Retry-After.
 */
export function storageProblem(error: unknown, extra?: Record<string, unknown>): Problem | null {
  switch (storageFault(error)) {
    case 'disk_full':
      return new Problem(
        'insufficient_storage',
        'The server is out of disk space; nothing more can be written now.',
        {
          headers: { 'Retry-After': '60' },
          extra,
        },
      );
    case 'damaged':
      return new Problem(
        'tenant_unavailable',
        "This tenant's storage cannot be read or written; it is being checked.",
        {
          headers: { 'Retry-After': '60' },
          extra,
        },
      );
    case 'busy':
      return new Problem('storage_busy', 'The storage is busy; retry shortly.', {
        headers: { 'Retry-After': '1' },
        extra,
      });
    default:
      return null;
  }
}
