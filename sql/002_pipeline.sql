-- Systems: the documents from HUB_CONFIG and PUT /v1/systems/:id, stored as written (secrets may
-- be ${ENV} references, resolved by each process from its own environment).
CREATE TABLE hub.systems (
  id         text PRIMARY KEY,
  document   jsonb NOT NULL,
  source     text NOT NULL CHECK (source IN ('file', 'api')),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Canonical records. Deletes are soft: the row stays so links and history still resolve.
CREATE SEQUENCE hub.customer_number_seq START 100001;
CREATE TABLE hub.records (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  type       text NOT NULL,
  data       jsonb NOT NULL,
  hash       text NOT NULL,
  version    integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE INDEX records_type_updated ON hub.records (type, updated_at);

-- External ID links: which record of which system is which canonical record.
CREATE TABLE hub.links (
  system_id   text NOT NULL,
  type        text NOT NULL,
  external_id text NOT NULL,
  record_id   uuid NOT NULL REFERENCES hub.records (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (system_id, type, external_id),
  -- One record of a system per canonical record: updates must find a single target.
  UNIQUE (system_id, type, record_id)
);
CREATE INDEX links_record ON hub.links (record_id);

-- Every inbound and outbound attempt on a record, kept for GET /v1/records/:type/:id.
CREATE TABLE hub.history (
  id          bigserial PRIMARY KEY,
  record_id   uuid,
  type        text NOT NULL,
  system_id   text NOT NULL,
  direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  action      text NOT NULL,
  outcome     text NOT NULL,
  reason      text,
  external_id text,
  job_id      uuid,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_record ON hub.history (record_id, id);
CREATE INDEX history_external ON hub.history (system_id, type, external_id);

-- Final failures, for operators (GET /v1/errors) and replay.
CREATE TABLE hub.errors (
  id          bigserial PRIMARY KEY,
  system_id   text NOT NULL,
  type        text NOT NULL,
  direction   text NOT NULL,
  scope       text NOT NULL,
  record_id   uuid,
  external_id text,
  message     text NOT NULL,
  http_status integer,
  job_id      uuid,
  queue       text NOT NULL,
  job_data    jsonb NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX errors_at ON hub.errors (at DESC);

-- Webhook event ids already accepted (webhook-id or Idempotency-Key), to drop redeliveries.
CREATE TABLE hub.hook_events (
  system_id   text NOT NULL,
  event_id    text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (system_id, event_id)
);
CREATE INDEX hook_events_received ON hub.hook_events (received_at);

-- Requests-per-second throttle shared by every worker process: the next free slot per system.
CREATE TABLE hub.throttle (
  system_id text PRIMARY KEY,
  next_at   timestamptz NOT NULL
);

-- Debug traces of jobs flagged debug, by pg-boss job id.
CREATE TABLE hub.traces (
  job_id     uuid PRIMARY KEY,
  queue      text NOT NULL,
  steps      jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
