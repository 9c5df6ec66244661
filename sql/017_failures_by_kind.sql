-- Failures grouped by kind: a path segment holding a digit is a record's id at the system
-- (PUT /customers/143492 answered 503), so it is written as {id} and an outage of many records
-- reads as one group, not one group per record.
CREATE OR REPLACE VIEW hub.failures AS
  SELECT system_id AS system, type, direction,
         regexp_replace(message, '/(?!v[0-9]+(?:[/\s?]|$))[^/\s?]*[0-9][^/\s?]*', '/{id}', 'g') AS message,
         count(*)::int AS errors,
         count(*) FILTER (WHERE resolved_at IS NULL)::int AS unresolved,
         max(at) AS last_at
  FROM hub.errors
  GROUP BY 1, 2, 3, 4;
