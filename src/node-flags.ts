/**
 * How the server process is meant to be started (`npm start`, `npm run demo`, the perf and test
 * harnesses); each setting is read when the process starts, so none can be applied from inside it.
 *
 * `--max-semi-space-size=2` caps the main thread's young generation at 2 MiB per semi-space instead of
 * 16: ingest allocates fast on the main thread (request pieces, gunzip output, chunk copies) and a young
 * generation that fills to its maximum before each scavenge was ~30 MB of RSS (perf/ingest, 300k
 * orders: 203.6 → 170.9 MB plain, 234 → 199.7 MB gzip, throughput unchanged). Worker threads get theirs
 * from the pool's resource limits (`--worker-young-mb`).
 *
 * `--heap-growing-percent=30` lets an old generation grow to 1.3 × what survived the last full collection
 * before the next one, instead of up to 4 × while the thread allocates fast (V8's default): under a
 * steady load the main thread's heap kept ~15 MB live but reserved 40–63 MB (perf/soak, 20 tenants
 * ingesting for 180 s: peak RSS 305.8 → 275.9 MB; 200k orders into one tenant: 274.6 → 254.4 MB at
 * the same rate). It applies to every thread of the process.
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=2', '--heap-growing-percent=30'] as const;

/**
 * glibc malloc: two arenas shared by all threads instead of one per thread (freed memory stays in the
 * arena that freed it); and blocks of 64 KiB and more (socket reads, gunzip output, 1 MiB ingest chunks)
 * mapped on their own and unmapped when freed, instead of fragmenting the arenas (perf/ingest, 1M orders:
 * steady RSS ~173 → ~162 MB plain, ~194 → ~185 MB gzip).
 */
export const SERVER_MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' } as const;

/** The recommended settings this process was started without: node flags (command line, NODE_OPTIONS), env. */
export function missingServerSettings(
  execArgv: readonly string[] = process.execArgv,
  env: Record<string, string | undefined> = process.env,
): string[] {
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  const flags = SERVER_NODE_FLAGS.filter((flag) => {
    const name = flag.split('=')[0]!;
    return !given.some((g) => g === name || g.startsWith(`${name}=`));
  });
  const vars = Object.keys(SERVER_MALLOC_ENV).filter((name) => env[name] === undefined);
  return [...flags, ...vars];
}
