import { v8Collector } from './v8-collector.js';

/**
 * Bytes of block Buffers a ranking's scan drops between scavenges: it reads every block once per slice (a
 * year of 2M orders: 138 MB a pass, 12 passes on SQLite), and the dead Buffers wait in malloc's arenas
 * until V8 collects them. Every product on 2M orders peaked at 199.8 MB with 8 MB between scavenges, 192.3
 * with 2 MB (3.8–3.9 s against 4.0–4.6 s; `perf/metrics-memory --cases every`, 2026-12-03).
 */
export const BLOCK_SCAN_GARBAGE_BYTES = 2 << 20;

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
