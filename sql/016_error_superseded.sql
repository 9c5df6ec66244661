-- A replay that fails again is a new error, and the one it replayed is closed in its favour:
-- resolved, pointing at the new one, so "retry all" replays each failure once, not every
-- earlier error of the same work again.
ALTER TABLE hub.errors ADD COLUMN superseded_by bigint REFERENCES hub.errors (id) ON DELETE SET NULL;
