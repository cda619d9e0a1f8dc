import { describe, expect, it } from 'vitest';
import { youngGarbageCollector } from '../../src/worker/young-garbage.js';

describe('collecting dropped Buffers as a loop goes', () => {
  it('runs a collection after each threshold of dropped bytes, not before', () => {
    let collections = 0;
    const dropped = youngGarbageCollector(1000, () => collections++);
    dropped(600);
    expect(collections).toBe(0);
    dropped(600);
    expect(collections).toBe(1);
    dropped(999);
    expect(collections).toBe(1);
    dropped(1);
    expect(collections).toBe(2);
  });

  it("reaches V8's own collector, and a scavenge frees a dropped Buffer's memory", async () => {
    const dropped = youngGarbageCollector(1);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 20; i++) Buffer.alloc(1 << 20).fill(i);
    expect(process.memoryUsage().arrayBuffers - before).toBeGreaterThan(10 << 20);
    dropped(1);
    // the backing stores of the collected objects are released by V8's sweeper, off the thread
    for (let i = 0; i < 50 && process.memoryUsage().arrayBuffers - before >= 4 << 20; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 << 20);
  });
});
