import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RebuildAfterReads } from '../../src/jobs/rebuild-after-reads.js';

describe('a rebuild slice asked for by a read', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** A scheduler whose slices take `sliceMs`; records when each started and how long it waited. */
  function scheduler(sliceMs = 50) {
    const started: { at: number; waited: number }[] = [];
    const t0 = Date.now();
    const slices = new RebuildAfterReads({
      quietMs: 300,
      maxWaitMs: 3_000,
      now: () => Date.now(),
      run: () => new Promise((resolve) => setTimeout(resolve, sliceMs)),
      started: (_tenant, waited) => started.push({ at: Date.now() - t0, waited }),
    });
    return { slices, started };
  }

  /** One read of tenant 1 lasting `ms`, which asks for a slice as it answers. */
  async function read(slices: RebuildAfterReads, ms: number): Promise<void> {
    slices.readStarted(1);
    await vi.advanceTimersByTimeAsync(ms);
    slices.ask(1);
    slices.readEnded(1);
  }

  it('starts once the reads that follow have been quiet for a moment, not beside them', async () => {
    const { slices, started } = scheduler();
    await read(slices, 200); // the dashboard's first read: it asks for a slice
    await read(slices, 200); // its second, right after: the slice must not run beside it
    await read(slices, 200);
    expect(started).toEqual([]);
    expect(slices.waiting(1)).toBe(true);
    await vi.advanceTimersByTimeAsync(299);
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toEqual([{ at: 900, waited: 700 }]); // 300 ms after the last read ended
    expect(slices.waiting(1)).toBe(false);
  });

  it('starts after maxWaitMs however the reads keep coming', async () => {
    const { slices, started } = scheduler();
    await read(slices, 100);
    for (let i = 0; i < 40 && started.length === 0; i++) await read(slices, 100);
    expect(started).toEqual([{ at: 3_100, waited: 3_000 }]);
  });

  it('runs one slice at a time per tenant, and one more only when asked again', async () => {
    const { slices, started } = scheduler(1_000);
    await read(slices, 10);
    await vi.advanceTimersByTimeAsync(300);
    expect(started).toHaveLength(1); // running for 1 s
    await read(slices, 10); // asked while it runs: not queued behind it
    await vi.advanceTimersByTimeAsync(2_000);
    expect(started).toHaveLength(1);
    await read(slices, 10); // asked after it ended: a new one
    await vi.advanceTimersByTimeAsync(300);
    expect(started).toHaveLength(2);
  });

  it("keeps each tenant's reads and slices apart, and forgets a tenant left idle", async () => {
    const { slices, started } = scheduler();
    await read(slices, 10); // tenant 1 asks
    slices.readStarted(2); // tenant 2 keeps reading: tenant 1's slice does not wait for it
    await vi.advanceTimersByTimeAsync(300);
    expect(started).toHaveLength(1);
    slices.readEnded(2);
    await vi.advanceTimersByTimeAsync(100);
    expect((slices as unknown as { tenants: Map<number, unknown> }).tenants.size).toBe(0);
  });
});
