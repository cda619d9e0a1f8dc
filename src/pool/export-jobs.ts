import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { WorkerPool } from './pool.js';
import { startTenantSweep } from './tenant-sweep.js';

export interface ExportJobOptions {
  concurrency: number;
  batchRows: number;
  maxRowsPerSecond: number;
  retentionMs: number;
  /** How often finished exports past their retention are deleted. */
  sweepIntervalMs: number;
}

interface Job {
  tenantId: number;
  exportId: string;
}

/**
 * Export jobs in the main thread: a FIFO of jobs, at most `concurrency` running in the pool at once (an
 * export holds a worker slot for its whole run). At start every tenant's unfinished jobs are queued again,
 * so a crash or restart resumes them from their checkpoints. Shutdown raises a shared flag; running jobs
 * stop after their next checkpoint and are resumed by the next start.
 */
export class ExportJobs {
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private readonly stopFlag = new SharedArrayBuffer(4);
  private stopped = false;
  private stopSweep: () => void = () => {};

  constructor(
    private readonly pool: WorkerPool,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly options: ExportJobOptions,
    /** The tenants now (tenants are created while the server runs). */
    private readonly tenantIds: () => readonly number[],
  ) {
    metrics.watchExports(() => ({ running: this.running.size, queued: this.queue.length }));
  }

  enqueue(tenantId: number, exportId: string): void {
    if (this.stopped || this.running.has(exportId) || this.queue.some((j) => j.exportId === exportId)) return;
    this.queue.push({ tenantId, exportId });
    this.pump();
  }

  /** Queues every tenant's unfinished exports again (oldest first) and starts the expiry sweep. */
  async resume(): Promise<void> {
    for (const tenantId of this.tenantIds()) {
      const ids = await this.pool.run('unfinishedExports', { requestId: 'boot', tenantId });
      for (const exportId of ids) {
        this.log.info({ tenant_id: tenantId, export_id: exportId }, 'export queued for resume');
        this.enqueue(tenantId, exportId);
      }
    }
    this.stopSweep = startTenantSweep({
      pool: this.pool,
      log: this.log,
      task: 'expireExports',
      intervalMs: this.options.sweepIntervalMs,
      tenantIds: this.tenantIds,
    });
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const run = this.run(job).finally(() => {
        this.running.delete(job.exportId);
        this.pump();
      });
      this.running.set(job.exportId, run);
    }
  }

  private async run(job: Job): Promise<void> {
    try {
      const result = await this.pool.run('runExport', {
        requestId: `export:${job.exportId}`,
        tenantId: job.tenantId,
        exportId: job.exportId,
        batchRows: this.options.batchRows,
        maxRowsPerSecond: this.options.maxRowsPerSecond,
        retentionMs: this.options.retentionMs,
        stop: this.stopFlag,
      });
      if (result.state !== 'skipped') this.metrics.exportJobs.inc({ outcome: result.state });
    } catch (error) {
      // the worker died (or was terminated): the job stays 'running' in its shard and resumes on next start
      this.metrics.exportJobs.inc({ outcome: 'worker_failed' });
      this.log.error({ err: error, export_id: job.exportId }, 'export task failed');
    }
  }

  /** Asks running jobs to stop at their next checkpoint and waits for them (bounded). */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    this.stopSweep();
    Atomics.store(new Int32Array(this.stopFlag), 0, 1);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
