/**
 * The PostgreSQL driver (`pg`), loaded the first time a thread talks to PostgreSQL. A server on SQLite
 * never does, and every thread that loads the driver carries it in its own heap: ~2.5 MB used and ~7 MB
 * more reserved per worker thread (a fresh worker importing `pg`, after a full collection), times the
 * pool's workers, a writer lane, the upkeep thread and the main thread.
 */
import type pg from 'pg';

export type PgDriver = typeof pg;

let driver: Promise<PgDriver> | null = null;

export function loadPgDriver(): Promise<PgDriver> {
  driver ??= import('pg').then((module) => module.default);
  return driver;
}
