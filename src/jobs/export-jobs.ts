import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { WorkerPool } from '../pool/pool.js';
import { startPeriodic } from './periodic.js';
import { startTenantSweep } from './tenant-sweep.js';

export interface ExportJobOptions {
  concurrency: number;
  /** Parts one job is cut into at most, each encoded by its own worker at once. */
  parts: number;
  batchRows: number;
  maxRowsPerSecond: number;
  retentionMs: number;
  /** How often finished exports past their retention are deleted. */
  sweepIntervalMs: number;
}

export interface ExportJobRef {
  tenantId: number;
  exportId: string;
}

type Job = ExportJobRef;

/** The stop flag's values: 0 run on, else stop at the next checkpoint. */
const STOP_FOR_SHUTDOWN = 1;
const STOP_FOR_FAILURE = 2;

/**
 * Export jobs in the main thread: a FIFO of jobs, at most `concurrency` running in the pool at once. A job
 * runs as a plan, its parts side by side (each holds a worker slot for its run) and a join
 * (workers/export-job.ts). At start every tenant's unfinished jobs are queued again, so a crash or restart
 * resumes them from their checkpoints. Each running job has a shared stop flag: shutdown raises them all
 * (the parts stop after their next checkpoint and the next start resumes them), and a failed part raises
 * its job's, so the other parts do not run on for nothing.
 */
export class ExportJobs {
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, { done: Promise<void>; stop: Int32Array }>();
  private stopped = false;
  private stopSweep: () => void = () => {};
  private stopAdopting: () => void = () => {};

  private readonly pool: WorkerPool;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly options: ExportJobOptions;
  private readonly tenantIds: () => readonly number[];
  private readonly bootId: string;
  private readonly adoptEveryMs: number | null;
  private readonly findUnfinished: () => Promise<ExportJobRef[]>;

  constructor(init: {
    pool: WorkerPool;
    metrics: Metrics;
    log: Logger;
    options: ExportJobOptions;
    /** The tenants now (tenants are created while the server runs). */
    tenantIds: () => readonly number[];
    /** this server process: the runner of the jobs it creates or takes over */
    bootId: string;
    /**
     * Where other servers share the jobs (PostgreSQL): how often to look for jobs a stopped server left,
     * and run them here. Null with one server per data directory.
     */
    adoptEveryMs: number | null;
    /**
     * The unfinished jobs to run here, over every tenant at once (PostgreSQL: those no live server runs).
     * Without it, each tenant's are asked for in turn (SQLite: all of them, at start).
     */
    findUnfinished?: () => Promise<ExportJobRef[]>;
  }) {
    ({
      pool: this.pool,
      metrics: this.metrics,
      log: this.log,
      options: this.options,
      tenantIds: this.tenantIds,
      bootId: this.bootId,
      adoptEveryMs: this.adoptEveryMs,
    } = init);
    this.findUnfinished = init.findUnfinished ?? (() => this.unfinishedPerTenant());
    this.metrics.watchExports(() => ({ running: this.running.size, queued: this.queue.length }));
  }

  /** Queues a job unless it is queued or running already (or the jobs are stopping); says whether it did. */
  enqueue(tenantId: number, exportId: string): boolean {
    if (this.stopped || this.running.has(exportId) || this.queue.some((j) => j.exportId === exportId))
      return false;
    this.queue.push({ tenantId, exportId });
    this.pump();
    return true;
  }

  /**
   * Queues the unfinished exports again (oldest first) and starts the expiry sweep; where servers share
   * the jobs, looks for those a stopped server left every `adoptEveryMs`.
   */
  async resume(): Promise<void> {
    await this.adopt();
    this.stopSweep = startTenantSweep({
      pool: this.pool,
      log: this.log,
      task: 'expireExports',
      intervalMs: this.options.sweepIntervalMs,
      tenantIds: this.tenantIds,
    });
    if (this.adoptEveryMs !== null)
      this.stopAdopting = startPeriodic(this.adoptEveryMs, async () => {
        if (!this.stopped) await this.adopt();
      });
  }

  private async adopt(): Promise<void> {
    let unfinished: ExportJobRef[];
    try {
      unfinished = await this.findUnfinished();
    } catch (error) {
      this.log.error({ err: error }, 'cannot look for unfinished exports');
      return;
    }
    for (const job of unfinished)
      if (this.enqueue(job.tenantId, job.exportId))
        this.log.info({ tenant_id: job.tenantId, export_id: job.exportId }, 'export queued for resume');
  }

  private async unfinishedPerTenant(): Promise<ExportJobRef[]> {
    const found: ExportJobRef[] = [];
    for (const tenantId of this.tenantIds()) {
      const ids = await this.pool.run('unfinishedExports', { requestId: 'boot', tenantId });
      for (const exportId of ids) found.push({ tenantId, exportId });
    }
    return found;
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const done = this.run(job, stop).finally(() => {
        this.running.delete(job.exportId);
        this.pump();
      });
      this.running.set(job.exportId, { done, stop });
    }
  }

  private async run(job: Job, stop: Int32Array): Promise<void> {
    const startedAt = Date.now();
    const base = {
      requestId: `export:${job.exportId}`,
      tenantId: job.tenantId,
      exportId: job.exportId,
      bootId: this.bootId,
    };
    try {
      const plan = await this.pool.run('planExport', {
        ...base,
        maxParts: this.options.parts,
        batchRows: this.options.batchRows,
      });
      if (plan.state === 'skipped') return;
      const maxRowsPerSecond = this.options.maxRowsPerSecond / plan.parts.length;
      const settled = await Promise.allSettled(
        plan.parts.map(async (part) => {
          const result = await this.pool.run('runExportPart', {
            ...base,
            part,
            batchRows: this.options.batchRows,
            maxRowsPerSecond,
            stop: stop.buffer as SharedArrayBuffer,
          });
          if (result.state === 'failed') Atomics.store(stop, 0, STOP_FOR_FAILURE);
          return result;
        }),
      );
      // every part has stopped before the job is left to a later attempt
      const parts = settled.map((s) => {
        if (s.status === 'rejected') throw s.reason;
        return s.value;
      });
      const failed = parts.find((p) => p.state === 'failed');
      if (failed) {
        await this.pool.run('failExport', { ...base, error: failed.error });
        this.metrics.exportJobs.inc({ outcome: 'failed' });
      } else if (parts.some((p) => p.state === 'interrupted')) {
        this.metrics.exportJobs.inc({ outcome: 'interrupted' });
      } else if (parts.every((p) => p.state === 'done')) {
        const result = await this.pool.run('finishExport', {
          ...base,
          retentionMs: this.options.retentionMs,
          startedAt,
        });
        if (result.state === 'failed') await this.pool.run('failExport', { ...base, error: result.error });
        if (result.state !== 'skipped') this.metrics.exportJobs.inc({ outcome: result.state });
      }
    } catch (error) {
      // a worker died (or was terminated): the job stays 'running' in its shard and resumes on next start
      this.metrics.exportJobs.inc({ outcome: 'worker_failed' });
      this.log.error({ err: error, export_id: job.exportId }, 'export task failed');
    }
  }

  /** Asks running jobs to stop at their next checkpoint and waits for them (bounded). */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    this.stopSweep();
    this.stopAdopting();
    for (const job of this.running.values()) Atomics.store(job.stop, 0, STOP_FOR_SHUTDOWN);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()].map((job) => job.done)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
