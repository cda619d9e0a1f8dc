/** A per-tenant cap and what the tenant already uses of it. */
export interface QuotaUse {
  used: number;
  limit: number;
}

/** The result of an admission under quotas: admitted with its value, or refused naming the quota. */
export type Quoted<T, Q extends string> = { ok: true; value: T } | { ok: false; quota: Q; use: QuotaUse };

/** The first quota `uses` would exceed by adding `adding` (0 for a count of one more thing), or null. */
export function firstExceeded<Q extends string>(
  uses: Record<Q, QuotaUse & { adding: number }>,
): { quota: Q; use: QuotaUse } | null {
  for (const quota of Object.keys(uses) as Q[]) {
    const { used, limit, adding } = uses[quota];
    if (used + adding > limit) return { quota, use: { used, limit } };
  }
  return null;
}

/** An export job is refused past the tenant's jobs queued or running, or its finished bytes kept. */
export type ExportQuota = 'jobs' | 'bytes';

/** The export quota a new job would exceed (one more job; no bytes until it finishes), or null. */
export function exportOverQuota(
  use: { active: number; bytesKept: number },
  limits: { jobs: number; bytes: number },
): { quota: ExportQuota; use: QuotaUse } | null {
  return firstExceeded<ExportQuota>({
    jobs: { used: use.active, limit: limits.jobs, adding: 1 },
    bytes: { used: use.bytesKept, limit: limits.bytes, adding: 0 },
  });
}

/** An upload is refused past the tenant's open uploads, or the bytes they declare. */
export type UploadQuota = 'uploads' | 'bytes';

/** The upload quota a new upload of `length` declared bytes (null: deferred) would exceed, or null. */
export function uploadOverQuota(
  use: { open: number; declaredBytes: number },
  limits: { uploads: number; bytes: number },
  length: number | null,
): { quota: UploadQuota; use: QuotaUse } | null {
  return firstExceeded<UploadQuota>({
    uploads: { used: use.open, limit: limits.uploads, adding: 1 },
    bytes: { used: use.declaredBytes, limit: limits.bytes, adding: length ?? 0 },
  });
}
