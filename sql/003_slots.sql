-- Concurrency slots per system (throttle.maxConcurrent), leased by jobs across all worker
-- processes. pg-boss's group concurrency keeps workers from fetching too many jobs of one
-- system, but concurrent fetches can race past it; a lease makes the limit exact. A lease
-- expires, so a crashed process cannot hold a slot for ever.
CREATE TABLE hub.slots (
  system_id  text NOT NULL,
  slot       integer NOT NULL,
  holder     uuid,
  expires_at timestamptz,
  PRIMARY KEY (system_id, slot)
);
