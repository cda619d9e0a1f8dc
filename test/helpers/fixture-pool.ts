import type { WorkerPool } from '../../src/pool/pool.js';
import type { StreamHandle, StreamOptions } from '../../src/pool/stream-receiver.js';

/**
 * A pool running a test fixture's worker module (test/fixtures/*.mjs) instead of workers/: its tasks are
 * not in the task registry, so they are called by name without the registry's checks.
 */
export interface FixturePool {
  run<T>(name: string, input: object): Promise<T>;
  write<T>(tenantId: number, name: string, input: object): Promise<T>;
  stream(name: string, input: object, options: StreamOptions): StreamHandle;
}

export const fixtureTasks = (pool: WorkerPool): FixturePool => pool as unknown as FixturePool;
