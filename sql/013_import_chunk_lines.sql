-- The file's line of each row of a chunk, so a row error names the line a reader finds it on:
-- blank lines and rows are skipped, and a quoted cell may span lines, so row numbers and lines
-- part ways. NULL in chunks stored before this: their rows were numbered n, n + 1, ... (the
-- header being 1, row n was reported as n + 1).
ALTER TABLE hub.import_chunks ADD COLUMN lines integer[];
