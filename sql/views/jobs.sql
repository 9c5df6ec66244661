-- Views over pg-boss's job tables, for operators with psql (README: "Monitoring through the job
-- tables"). pg-boss installs its schema after the hub's migrations run, and a view would block
-- pg-boss's own migrations on an upgrade, so the hub drops these before starting pg-boss and
-- creates them again after (src/db/views.ts).

-- Jobs not yet finished, by queue, state and system (a debug job has no group: see inboundRow).
-- Webhooks accepted and not yet jobs (hub.hook_backlog) count as inbound jobs in state 'accepted'.
-- Dead letters are not work to do: they wait for an operator (hub.dead_letters, the error log),
-- and counted here they would read as a backlog for the 30 days they are kept.
CREATE VIEW hub.queue_depth AS
  SELECT name AS queue, state::text AS state, coalesce(group_id, data->>'system') AS system, count(*)::int AS jobs
  FROM pgboss.job
  WHERE state < 'completed' AND name <> 'dead-letter'
  GROUP BY 1, 2, 3
  UNION ALL
  SELECT 'inbound', 'accepted', system_id, count(*)::int FROM hub.hook_backlog GROUP BY 3;

-- Jobs finished in the last 1, 5 and 60 minutes, by queue, system and outcome: as /metrics
-- counts them, an attempt that ended in a retry ('retried') or was held by an open circuit
-- breaker ('held') is not a completed job, though pg-boss completes it (its next try is a job
-- of its own).
CREATE VIEW hub.throughput AS
  SELECT name AS queue, coalesce(group_id, data->>'system') AS system,
         CASE WHEN state = 'completed' AND output ? 'retrying' THEN 'retried'
              WHEN state = 'completed' AND output ? 'held' THEN 'held'
              ELSE state::text END AS state,
         count(*) FILTER (WHERE completed_on > now() - interval '1 minute')::int AS last_1m,
         count(*) FILTER (WHERE completed_on > now() - interval '5 minutes')::int AS last_5m,
         count(*)::int AS last_60m
  FROM pgboss.job
  WHERE state >= 'completed' AND completed_on > now() - interval '60 minutes'
  GROUP BY 1, 2, 3;

-- The oldest job due and waiting for a worker, per queue, and how many more are deferred (a
-- retry's wait, a delivery held while its system's circuit breaker is open): those are not
-- waiting for a worker but for their time. Dead letters have no worker and wait for an
-- operator: see hub.dead_letters. Accepted webhooks not yet jobs wait too, as inbound work.
CREATE VIEW hub.oldest_waiting AS
  SELECT queue, count(*) FILTER (WHERE due)::int AS waiting, count(*) FILTER (WHERE NOT due)::int AS deferred,
         min(created_on) FILTER (WHERE due) AS oldest_created_on,
         extract(epoch FROM now() - min(created_on) FILTER (WHERE due))::float8 AS oldest_age_seconds
  FROM (SELECT name AS queue, created_on, start_after <= now() AS due FROM pgboss.job
        WHERE state IN ('created', 'retry') AND name <> 'dead-letter'
        UNION ALL
        SELECT 'inbound', accepted_at, true FROM hub.hook_backlog) w
  GROUP BY 1;

-- Work pg-boss gave up on (a permanent failure, the last attempt, or a worker lost too often).
CREATE VIEW hub.dead_letters AS
  SELECT id AS job_id, data->>'system' AS system, data->>'type' AS type, data->>'action' AS action,
         coalesce(data->>'recordId', data->>'id') AS record, created_on, data
  FROM pgboss.job
  WHERE name = 'dead-letter';

-- A record's lineage: every inbound and outbound attempt, its link in that system, and its job.
CREATE VIEW hub.record_lineage AS
  SELECT h.record_id, h.type, h.at, h.system_id AS system, h.direction, h.action, h.outcome, h.reason,
         coalesce(h.external_id, l.external_id) AS external_id, h.job_id, j.state::text AS job_state
  FROM hub.history h
  LEFT JOIN hub.links l ON l.record_id = h.record_id AND l.system_id = h.system_id AND l.type = h.type
  LEFT JOIN pgboss.job j ON j.id = h.job_id;
