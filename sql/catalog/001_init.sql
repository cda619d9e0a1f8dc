-- The catalog: who the tenants are, their API keys (hashes only) and where their shard lives.
CREATE TABLE tenants (
  tenant_id   INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  shard_file  TEXT    NOT NULL UNIQUE,
  created_at  TEXT    NOT NULL
);

CREATE TABLE api_keys (
  key_id      INTEGER PRIMARY KEY,
  tenant_id   INTEGER NOT NULL REFERENCES tenants (tenant_id),
  lookup_id   TEXT    NOT NULL UNIQUE,   -- public part of the key, used to find the row
  secret_hash BLOB    NOT NULL,          -- sha256 of the secret part; the secret itself is never stored
  created_at  TEXT    NOT NULL,
  revoked_at  TEXT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
