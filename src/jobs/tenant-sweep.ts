import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';

/**
 * A periodic expiry sweep: every `intervalMs` (and once at start), the pool task `task` runs for each tenant
 * in turn with the current time and answers the ids it expired. One sweep at a time; the timer does not keep
 * the process alive. Returns the function that stops it.
 */
export function startTenantSweep(options: {
  pool: WorkerPool;
  log: Logger;
  task: 'expireExports' | 'expireUploads';
  intervalMs: number;
  tenantIds: () => readonly number[];
  onExpired?: (ids: readonly string[]) => void;
}): () => void {
  let stopped = false;
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      for (const tenantId of options.tenantIds()) {
        if (stopped) return;
        const ids = await options.pool.run(options.task, {
          requestId: 'sweep',
          tenantId,
          now: Date.now(),
        });
        if (ids.length) options.onExpired?.(ids);
      }
    } catch (error) {
      options.log.error({ err: error, task: options.task }, 'expiry sweep failed');
    } finally {
      running = false;
    }
  };
  void sweep();
  const timer = setInterval(() => void sweep(), options.intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
