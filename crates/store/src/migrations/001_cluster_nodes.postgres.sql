CREATE TABLE IF NOT EXISTS cluster_nodes (
  id            UUID PRIMARY KEY,
  hostname      TEXT NOT NULL,
  version       TEXT NOT NULL,
  last_seq      BIGINT NOT NULL,
  heartbeat_ms  BIGINT NOT NULL
)
