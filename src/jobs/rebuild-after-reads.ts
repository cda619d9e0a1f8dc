/**
 * When the slice of a tenant's pre-aggregate rebuild that a read asked for (src/routes/sales.ts: a read
 * answered from the order journal past stale pre-aggregates) actually starts. Right after a bulk load a
 * dashboard asks several reads at once, or one after the other; a slice started as soon as the first
 * answered shared the two cores with the next ones (a year by day's second read took 279-454 ms after a
 * first of 205-327; with the wait 210-253; perf.md "Eleventh session"). So a slice waits until the
 * tenant's sales reads have been
 * quiet for `quietMs`, but never longer than `maxWaitMs` after it was asked (reads that never pause still
 * let the rebuild move), and one runs at a time per tenant, as before.
 */

export interface RebuildAfterReadsOptions {
  /** how long the tenant's reads must have been quiet (none running, none ended since) */
  quietMs: number;
  /** the longest a slice waits for quiet after it was asked */
  maxWaitMs: number;
  /** runs one slice; the promise settles when it is over */
  run(tenantId: number): Promise<void>;
  /** how long the slice waited, once it starts */
  started?(tenantId: number, waitedMs: number): void;
  now?(): number;
}

interface TenantReads {
  running: number;
  /** when the latest read started or ended */
  lastActivity: number;
  /** when the pending slice was asked for (null: none pending) */
  askedAt: number | null;
  sliceRunning: boolean;
}

export class RebuildAfterReads {
  private readonly tenants = new Map<number, TenantReads>();
  private readonly now: () => number;

  constructor(private readonly options: RebuildAfterReadsOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** A sales read of the tenant began. */
  readStarted(tenantId: number): void {
    const t = this.tenant(tenantId);
    t.running++;
    t.lastActivity = this.now();
  }

  /** A sales read of the tenant ended (answered or failed). */
  readEnded(tenantId: number): void {
    const t = this.tenant(tenantId);
    t.running = Math.max(0, t.running - 1);
    t.lastActivity = this.now();
    this.forgetIfIdle(tenantId, t);
  }

  /** A read asks for a slice: it starts once reads are quiet (or at the latest after maxWaitMs). */
  ask(tenantId: number): void {
    const t = this.tenant(tenantId);
    if (t.sliceRunning || t.askedAt !== null) return; // one at a time; one waiting is enough
    t.askedAt = this.now();
    this.schedule(tenantId, t);
  }

  /** Whether a slice of the tenant is waiting for its reads to go quiet. */
  waiting(tenantId: number): boolean {
    return this.tenants.get(tenantId)?.askedAt != null;
  }

  private tenant(tenantId: number): TenantReads {
    let t = this.tenants.get(tenantId);
    if (!t) {
      t = { running: 0, lastActivity: this.now(), askedAt: null, sliceRunning: false };
      this.tenants.set(tenantId, t);
    }
    return t;
  }

  /** Checks again when the reads could next be quiet long enough, or the wait runs out. */
  private schedule(tenantId: number, t: TenantReads): void {
    const { quietMs, maxWaitMs } = this.options;
    const now = this.now();
    const deadline = t.askedAt! + maxWaitMs;
    const quietAt = t.running > 0 ? now + quietMs : t.lastActivity + quietMs;
    const at = Math.min(deadline, quietAt);
    if (at <= now) {
      this.start(tenantId, t);
      return;
    }
    // the server's shutdown does not wait for it: a slice that starts then finds it draining (the route)
    setTimeout(() => this.schedule(tenantId, t), at - now).unref?.();
  }

  private start(tenantId: number, t: TenantReads): void {
    const waited = this.now() - t.askedAt!;
    t.askedAt = null;
    t.sliceRunning = true;
    this.options.started?.(tenantId, waited);
    this.options
      .run(tenantId)
      .catch(() => {}) // the runner reports its own failures
      .finally(() => {
        t.sliceRunning = false;
        this.forgetIfIdle(tenantId, t);
      });
  }

  /** A tenant with no read running, no slice waiting or running, is forgotten (its state is its defaults). */
  private forgetIfIdle(tenantId: number, t: TenantReads): void {
    if (t.running === 0 && t.askedAt === null && !t.sliceRunning && this.tenants.get(tenantId) === t)
      this.tenants.delete(tenantId);
  }
}
