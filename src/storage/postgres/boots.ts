/**
 * This server process in `server_boots` (issue 17): registered at start, its heartbeat renewed every
 * HEARTBEAT_MS, removed at a clean stop. Another process is alive while its heartbeat is younger than
 * ALIVE_MS (src/storage/postgres/idempotency.ts asks).
 */
import type pg from 'pg';

export const HEARTBEAT_MS = 5_000;
/** Three missed heartbeats: the process is gone (or cut off from the database, which is the same to us). */
export const ALIVE_MS = 3 * HEARTBEAT_MS;

/**
 * SQL: whether the row's `processor_boot` names a server whose heartbeat is recent (`$n`: ALIVE_MS). An
 * upload or an export job is processed by one server at a time; another takes it over once this is false.
 */
export const processorAlive = (n: number) =>
  `EXISTS (SELECT 1 FROM server_boots b WHERE b.boot_id = processor_boot
             AND b.heartbeat_at > now() - make_interval(secs => $${n}::float8 / 1000))`;

export async function registerBoot(
  pool: pg.Pool,
  bootId: string,
  onError: (error: unknown) => void,
): Promise<{ stop(): Promise<void> }> {
  // processes killed long ago left their rows: nothing refers to them any more
  await pool.query("DELETE FROM server_boots WHERE heartbeat_at < now() - interval '1 day'");
  await pool.query('INSERT INTO server_boots (boot_id) VALUES ($1) ON CONFLICT (boot_id) DO NOTHING', [
    bootId,
  ]);
  const timer = setInterval(() => {
    pool.query('UPDATE server_boots SET heartbeat_at = now() WHERE boot_id = $1', [bootId]).catch(onError);
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await pool.query('DELETE FROM server_boots WHERE boot_id = $1', [bootId]);
    },
  };
}
