import type { Metrics } from '../obs/metrics.js';
import { Problem } from './problem.js';

export interface StreamLimits {
  /** Streams at once over the whole server: the pool's task slots minus a reserve for short requests. */
  total: number;
  perTenant: number;
  perKey: number;
}

/**
 * Caps on concurrent streams (search, direct export, Arrow metrics). A stream holds a pool task slot for
 * as long as its client takes to read it, so unbounded streams could hold every slot and stall every other
 * tenant's requests, point reads included. Beyond a cap: 429 too_many_streams, naming which cap.
 */
export class StreamGate {
  private open = 0;
  private readonly byTenant = new Map<number, number>();
  private readonly byKey = new Map<number, number>();

  constructor(
    private readonly limits: StreamLimits,
    private readonly metrics: Metrics,
  ) {}

  /** Admits a stream or throws 429; call the returned function once the stream has ended. */
  enter(tenantId: number, keyId: number): () => void {
    const refuse = (scope: string, limit: number) => {
      this.metrics.admissionRejected.inc({ reason: `streams_per_${scope}` });
      throw new Problem(
        'too_many_streams',
        `At most ${limit} streams at once per ${scope}; retry when one ends.`,
        {
          headers: { 'Retry-After': '2' },
          extra: { scope, limit },
        },
      );
    };
    if ((this.byKey.get(keyId) ?? 0) >= this.limits.perKey) refuse('key', this.limits.perKey);
    if ((this.byTenant.get(tenantId) ?? 0) >= this.limits.perTenant) refuse('tenant', this.limits.perTenant);
    if (this.open >= this.limits.total) refuse('server', this.limits.total);
    this.open++;
    bump(this.byTenant, tenantId, 1);
    bump(this.byKey, keyId, 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.open--;
      bump(this.byTenant, tenantId, -1);
      bump(this.byKey, keyId, -1);
    };
  }

  get streams(): number {
    return this.open;
  }
}

function bump(map: Map<number, number>, id: number, by: number): void {
  const n = (map.get(id) ?? 0) + by;
  if (n === 0) map.delete(id);
  else map.set(id, n);
}
