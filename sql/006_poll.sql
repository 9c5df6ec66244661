-- Pull sync (src/poll). One row per polled (system, type): the cursor of cursor mode, the run
-- counter audit mode marks records with, what the last run did, and the running one's progress.
CREATE TABLE hub.poll_state (
  system_id   text NOT NULL,
  type        text NOT NULL,
  -- Cursor mode: {token, id} of the last record whose inbound job committed; null = full pull.
  cursor      jsonb,
  -- Audit mode: the number of the latest run; records seen by it carry this number.
  run_no      bigint NOT NULL DEFAULT 0,
  -- The run going on now (null when none) and the last one that ended.
  current     jsonb,
  last_run    jsonb,
  last_error  text,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (system_id, type)
);

-- Audit mode: what each record of a source looked like when last listed (a hash, not the record).
CREATE TABLE hub.poll_audit (
  system_id   text NOT NULL,
  type        text NOT NULL,
  external_id text NOT NULL,
  -- Null after a reset: the next listing counts every record as changed.
  hash        text,
  seen_run    bigint NOT NULL,
  last_seen   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (system_id, type, external_id)
);
CREATE INDEX poll_audit_seen ON hub.poll_audit (system_id, type, seen_run);
