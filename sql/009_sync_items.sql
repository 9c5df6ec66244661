-- Manual sync ids stored once (POST /v1/sync), turned into jobs as workers have room for them
-- (src/sync/expand.ts), so a batch of 1,000,000 ids costs one upload, not 1,000,000 waiting job
-- rows: pg-boss's fetch slows as waiting rows pile up. An item is deleted in the transaction that
-- inserts its job, so a worker killed mid-way neither loses nor repeats an id. No foreign key
-- to sync_batches: batches are never deleted, and a check per row would slow the upload.
CREATE TABLE hub.sync_items (
  batch_id  uuid NOT NULL,
  -- The id's line in the upload: the expansion order, and "duplicate of line N".
  line      integer NOT NULL,
  -- As sent: the source's id (inbound), or a hub or external id (outbound).
  id        text NOT NULL,
  -- The line's scope's action, or the batch's.
  action    text NOT NULL,
  -- Outbound: the hub record the id resolved to; NULL when it resolved to none (the line was
  -- rejected, but is kept until the upload ends so a later duplicate of it is recognised).
  record_id uuid,
  PRIMARY KEY (batch_id, line),
  UNIQUE (batch_id, id)
);

ALTER TABLE hub.sync_batches
  -- Ids accepted and stored in sync_items (0 for poll batches, whose jobs the poll inserts).
  ADD COLUMN items integer NOT NULL DEFAULT 0,
  -- Of them, turned into jobs (or coalesced into jobs already waiting).
  ADD COLUMN expanded integer NOT NULL DEFAULT 0,
  -- How many of the batch's jobs may wait in each queue at once.
  ADD COLUMN max_waiting integer;

-- The expander's question every half second: which batches still have ids to turn into jobs.
CREATE INDEX sync_batches_expanding ON hub.sync_batches (created_at) WHERE expanded < items;
