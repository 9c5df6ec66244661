-- An import's rows are stored as the chunks a worker writes in one transaction (a JSON array of
-- rows each), not a row per CSV row: a 300,000-row upload was 300,000 inserts, index entries and
-- foreign-key checks, and the vacuum and delete of as many rows afterwards; it is now 600 of each.
CREATE TABLE hub.import_chunks (
  import_id uuid NOT NULL REFERENCES hub.imports (id) ON DELETE CASCADE,
  -- The number of the chunk's first row (rows are numbered 1..total without gaps).
  n         integer NOT NULL,
  -- The chunk's rows, each an array of its fields as text.
  rows      json NOT NULL,
  PRIMARY KEY (import_id, n)
);
-- Imports still waiting or running keep their rows, one row a chunk.
INSERT INTO hub.import_chunks (import_id, n, rows) SELECT import_id, n, json_build_array(to_json(fields)) FROM hub.import_rows;
DROP TABLE hub.import_rows;
