-- One circuit breaker per system, shared by every worker process (src/connectors/breaker.ts).
-- Closed while opened_at is null; open, a system's jobs are held and one probe at a time (a
-- lease until probe_until) checks whether it is back, no sooner than probe_at.
CREATE TABLE hub.breakers (
  system_id   text PRIMARY KEY,
  failures    integer NOT NULL DEFAULT 0,
  opened_at   timestamptz,
  probe_at    timestamptz,
  probe_until timestamptz,
  last_error  text
);
