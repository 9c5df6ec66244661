-- Error replay (POST /v1/errors/:id/retry): the job a replay queued, when, and when a replay
-- succeeded (set by the job runner, src/pipeline/run-job.ts).
ALTER TABLE hub.errors
  ADD COLUMN replay_job_id uuid,
  ADD COLUMN replayed_at   timestamptz,
  ADD COLUMN resolved_at   timestamptz;
CREATE INDEX errors_unresolved ON hub.errors (id) WHERE resolved_at IS NULL;

-- Retention (jobs/maintenance.ts) deletes by age.
CREATE INDEX history_at ON hub.history (at);
CREATE INDEX traces_created ON hub.traces (created_at);

-- Final failures grouped the way an operator reads them. The views over pg-boss's job tables
-- are in sql/views/: they are created once pg-boss has installed its schema.
CREATE VIEW hub.failures AS
  SELECT system_id AS system, type, direction, message,
         count(*)::int AS errors,
         count(*) FILTER (WHERE resolved_at IS NULL)::int AS unresolved,
         max(at) AS last_at
  FROM hub.errors
  GROUP BY 1, 2, 3, 4;

-- Record search by an external id of any system (GET /v1/records/:type/by-external-id/:id).
CREATE INDEX links_external ON hub.links (type, external_id);
