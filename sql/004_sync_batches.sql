-- Manual sync batches (POST /v1/sync). Their jobs carry the batch id; GET /v1/sync/:id counts
-- them by state in pgboss.job (by name and created_on, which pg-boss indexes).
CREATE TABLE hub.sync_batches (
  id          uuid PRIMARY KEY,
  system_id   text,
  target_id   text,
  type        text NOT NULL,
  action      text NOT NULL,
  direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  debug       boolean NOT NULL DEFAULT false,
  state       text NOT NULL DEFAULT 'enqueuing' CHECK (state IN ('enqueuing', 'enqueued', 'aborted')),
  queued      integer NOT NULL DEFAULT 0,
  coalesced   integer NOT NULL DEFAULT 0,
  rejected    integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  enqueued_at timestamptz
);
