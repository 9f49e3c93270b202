CREATE TABLE IF NOT EXISTS certificates (
  id          UUID PRIMARY KEY,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  entity      JSON NOT NULL
);

CREATE TABLE IF NOT EXISTS ca_certificates (
  id           UUID PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  cert_digest  TEXT NOT NULL UNIQUE,
  entity       JSON NOT NULL
);

CREATE TABLE IF NOT EXISTS snis (
  id              UUID PRIMARY KEY,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL,
  name            TEXT NOT NULL UNIQUE,
  certificate_id  UUID NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
  entity          JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS snis_certificate_id_idx ON snis (certificate_id);

CREATE TABLE IF NOT EXISTS services (
  id                     UUID PRIMARY KEY,
  created_at             BIGINT NOT NULL,
  updated_at             BIGINT NOT NULL,
  name                   TEXT UNIQUE,
  client_certificate_id  UUID REFERENCES certificates (id),
  entity                 JSON NOT NULL
);

CREATE TABLE IF NOT EXISTS routes (
  id          UUID PRIMARY KEY,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  name        TEXT UNIQUE,
  service_id  UUID REFERENCES services (id),
  entity      JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS routes_service_id_idx ON routes (service_id);

CREATE TABLE IF NOT EXISTS consumers (
  id          UUID PRIMARY KEY,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  username    TEXT UNIQUE,
  custom_id   TEXT UNIQUE,
  entity      JSON NOT NULL
);

CREATE TABLE IF NOT EXISTS upstreams (
  id                     UUID PRIMARY KEY,
  created_at             BIGINT NOT NULL,
  updated_at             BIGINT NOT NULL,
  name                   TEXT NOT NULL UNIQUE,
  client_certificate_id  UUID REFERENCES certificates (id),
  entity                 JSON NOT NULL
);

CREATE TABLE IF NOT EXISTS targets (
  id           UUID PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  upstream_id  UUID NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
  target       TEXT NOT NULL,
  cache_key    TEXT NOT NULL UNIQUE,
  entity       JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS targets_upstream_id_idx ON targets (upstream_id);

CREATE TABLE IF NOT EXISTS plugins (
  id             UUID PRIMARY KEY,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  name           TEXT NOT NULL,
  instance_name  TEXT UNIQUE,
  cache_key      TEXT NOT NULL UNIQUE,
  service_id     UUID REFERENCES services (id) ON DELETE CASCADE,
  route_id       UUID REFERENCES routes (id) ON DELETE CASCADE,
  consumer_id    UUID REFERENCES consumers (id) ON DELETE CASCADE,
  entity         JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS plugins_service_id_idx ON plugins (service_id);
CREATE INDEX IF NOT EXISTS plugins_route_id_idx ON plugins (route_id);
CREATE INDEX IF NOT EXISTS plugins_consumer_id_idx ON plugins (consumer_id);

CREATE TABLE IF NOT EXISTS tags (
  entity_id    UUID NOT NULL,
  entity_name  TEXT NOT NULL,
  tag          TEXT NOT NULL,
  PRIMARY KEY (entity_id, tag)
);
CREATE INDEX IF NOT EXISTS tags_tag_idx ON tags (tag, entity_name);

CREATE TABLE IF NOT EXISTS changes (
  seq          BIGSERIAL PRIMARY KEY,
  entity_name  TEXT NOT NULL,
  entity_id    UUID NOT NULL,
  op           TEXT NOT NULL,
  node_id      UUID,
  created_at   BIGINT NOT NULL
)
