-- oauth2 client applications (the oauth2 plugin's credentials).

CREATE TABLE IF NOT EXISTS oauth2_credentials (
  id           UUID PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  consumer_id  UUID NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  client_id    TEXT UNIQUE,
  entity       JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth2_credentials_consumer_id_idx ON oauth2_credentials (consumer_id);
