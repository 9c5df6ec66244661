-- Manual sync ids stored once (POST /v1/sync), turned into jobs as workers have room for them
-- (src/sync/expand.ts), so a batch of 1,000,000 ids costs one upload, not 1,000,000 waiting job
-- rows: pg-boss's fetch slows as waiting rows pile up.
-- One row per chunk of the upload (a few thousand ids as arrays), not per id: a million ids are
-- a few hundred rows, with no index entry per id to write. No foreign key to sync_batches:
-- batches are never deleted.
CREATE TABLE hub.sync_chunks (
  batch_id   uuid NOT NULL,
  -- The chunk's place in the upload: expansion goes in this order.
  n          integer NOT NULL,
  -- Per id, in line order: its line in the upload, the id as sent (the source's id inbound, a
  -- hub or external id outbound), its action (the line's scope's, or the batch's).
  lines      integer[] NOT NULL,
  ids        text[] NOT NULL,
  actions    text[] NOT NULL,
  -- Outbound: the hub record each id resolved to.
  record_ids uuid[],
  PRIMARY KEY (batch_id, n)
);

ALTER TABLE hub.sync_batches
  -- Ids accepted and stored in sync_chunks, and of them, those turned into jobs (or coalesced
  -- into jobs already waiting): 0 for poll batches, whose jobs the poll inserts.
  ADD COLUMN items integer NOT NULL DEFAULT 0,
  ADD COLUMN expanded integer NOT NULL DEFAULT 0,
  -- Ids of the batch's first remaining chunk already turned into jobs. This cursor moves in the
  -- transaction that inserts those jobs, so a worker killed mid-way neither loses nor repeats an id.
  ADD COLUMN chunk_offset integer NOT NULL DEFAULT 0,
  -- How many of the batch's jobs may wait in each queue at once.
  ADD COLUMN max_waiting integer;

-- The expander's question every half second: which batches still have ids to turn into jobs.
CREATE INDEX sync_batches_expanding ON hub.sync_batches (created_at) WHERE expanded < items;
