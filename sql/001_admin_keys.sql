-- Admin API keys. Only a SHA-256 of each key is kept: keys are 32 random bytes, so a fast hash
-- is enough and lets a request find its key by an index lookup.
CREATE TABLE hub.admin_keys (
  id           bigserial PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  key_hash     text NOT NULL UNIQUE,
  scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'delete']),
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
