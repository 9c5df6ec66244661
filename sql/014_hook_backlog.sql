-- Webhooks accepted and not yet pg-boss jobs (src/ingest/backlog.ts). A webhook's commit writes
-- one narrow row here instead of a job row (pg-boss's job table carries 20 indexes: ~48 µs of
-- PostgreSQL per row, against a few here); the pump (src/ingest/pump.ts) makes them into jobs in
-- bulk, per system in arrival order, as the system's waiting jobs leave room.
CREATE TABLE hub.hook_backlog (
  system_id   text NOT NULL,
  n           bigint GENERATED ALWAYS AS IDENTITY,
  -- The id the job will have: the webhook's receipt and the job are one piece of work.
  job_id      uuid NOT NULL,
  type        text NOT NULL,
  record_id   text NOT NULL,
  action      text NOT NULL,
  accepted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (system_id, n)
);
-- One waiting fetch per record, and one waiting delete: a burst of changes coalesces here as it
-- does in the inbound queue (a delete never joins a fetch).
CREATE UNIQUE INDEX hook_backlog_record ON hub.hook_backlog (system_id, type, record_id, (action = 'delete'));
