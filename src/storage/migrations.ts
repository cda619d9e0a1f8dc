import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SQL_DIR } from '../paths.js';
import type { Db } from './sqlite.js';

export type SchemaKind = 'catalog' | 'shard';
/** A folder of plain-SQL migrations under sql/: SQLite's catalog and shard schemas, PostgreSQL's one. */
export type MigrationSet = SchemaKind | 'postgres';

export interface Migration {
  version: string;
  sql: string;
}

const cache = new Map<MigrationSet, Migration[]>();

/** The migrations of `sql/<kind>/`, in the order their file names sort (001_…, 002_…). */
export function migrationsFor(kind: MigrationSet): Migration[] {
  let list = cache.get(kind);
  if (!list) {
    const dir = join(SQL_DIR, kind);
    list = readdirSync(dir)
      .filter((f) => /^\d+_.+\.sql$/.test(f))
      .sort()
      .map((f) => ({ version: f.replace(/\.sql$/, ''), sql: readFileSync(join(dir, f), 'utf8') }));
    cache.set(kind, list);
  }
  return list;
}

/** Applies the plain-SQL migrations of `sql/<kind>/` not yet recorded, each in its own transaction. */
export function migrate(db: Db, kind: SchemaKind): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: string }[]).map(
      (r) => r.version,
    ),
  );
  const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  const done: string[] = [];
  for (const m of migrationsFor(kind)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, new Date().toISOString());
    }).immediate();
    done.push(m.version);
  }
  return done;
}
