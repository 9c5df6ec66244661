-- A worker writes an import's chunks two at a time, and they commit in either order: each chunk's
-- row is deleted in the transaction that writes it, so the chunks left are the work left, and
-- next_row (the one resume point) goes. Every chunk below it is written already.
DELETE FROM hub.import_chunks c USING hub.imports i WHERE c.import_id = i.id AND c.n < i.next_row;
ALTER TABLE hub.imports DROP COLUMN next_row;
-- Of `success`, the rows that changed nothing: already as given, or left alone without
-- overrideExisting.
ALTER TABLE hub.imports ADD COLUMN unchanged integer NOT NULL DEFAULT 0;
