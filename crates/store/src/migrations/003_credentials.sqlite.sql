-- Consumer credentials and ACL groups (the authentication plugins' entities). `ttl` holds the
-- expiry time in epoch seconds, and expired rows read as absent and are purged in batches.

CREATE TABLE IF NOT EXISTS keyauth_credentials (
  id           TEXT PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  consumer_id  TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  key          TEXT UNIQUE,
  ttl          BIGINT,
  entity       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keyauth_credentials_consumer_id_idx ON keyauth_credentials (consumer_id);
CREATE INDEX IF NOT EXISTS keyauth_credentials_ttl_idx ON keyauth_credentials (ttl);

CREATE TABLE IF NOT EXISTS basicauth_credentials (
  id           TEXT PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  consumer_id  TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  username     TEXT NOT NULL UNIQUE,
  entity       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS basicauth_credentials_consumer_id_idx ON basicauth_credentials (consumer_id);

CREATE TABLE IF NOT EXISTS jwt_secrets (
  id           TEXT PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  consumer_id  TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  key          TEXT UNIQUE,
  entity       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jwt_secrets_consumer_id_idx ON jwt_secrets (consumer_id);

CREATE TABLE IF NOT EXISTS hmacauth_credentials (
  id           TEXT PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  consumer_id  TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  username     TEXT NOT NULL UNIQUE,
  entity       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hmacauth_credentials_consumer_id_idx ON hmacauth_credentials (consumer_id);

CREATE TABLE IF NOT EXISTS acls (
  id           TEXT PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  consumer_id  TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  cache_key    TEXT NOT NULL UNIQUE,
  entity       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS acls_consumer_id_idx ON acls (consumer_id);
