CREATE TABLE IF NOT EXISTS change_log_meta (
  id               INTEGER PRIMARY KEY,
  trimmed_through  BIGINT NOT NULL
);
INSERT INTO change_log_meta (id, trimmed_through) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE INDEX IF NOT EXISTS changes_created_at_idx ON changes (created_at)
