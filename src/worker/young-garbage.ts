import { v8Collector } from './v8-collector.js';

/**
 * Counts bytes of short-lived Buffers a loop drops (better-sqlite3 copies every BLOB it returns into a new
 * Buffer) and runs a scavenge after each `everyBytes` of them. A dead Buffer's memory is freed only when
 * V8 collects its object, and V8 counts Buffers as external memory, which starts a collection only after
 * ~64 MB of growth per thread: two workers reading a year of line blocks twice (every product's ranking,
 * ~140 MB of blocks) held up to that much each (`node dist/perf/metrics-memory.js`: peak RSS 208.4 MB
 * without, 193.9 with a scavenge every 8 MB, the same answer times).
 */
export function youngGarbageCollector(
  everyBytes = 8 << 20,
  collect: () => void = () => v8Collector()({ type: 'minor' }),
): (droppedBytes: number) => void {
  let dropped = 0;
  return (droppedBytes) => {
    dropped += droppedBytes;
    if (dropped < everyBytes) return;
    dropped = 0;
    collect();
  };
}
