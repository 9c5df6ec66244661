-- Key fields that find an existing record (imports' `key`, GET /v1/records/:type?q=): one
-- partial index per type's default key.
CREATE INDEX records_customer_email ON hub.records ((data->>'email_address')) WHERE type = 'customer';
CREATE INDEX records_product_sku ON hub.records ((data->>'sku')) WHERE type = 'product';
CREATE INDEX records_order_number ON hub.records ((data->>'number')) WHERE type = 'order';

-- CSV imports (seed 002). The upload lands in import_rows within its request, so any worker
-- process can run it and it survives a crash; next_row advances in the same transaction as the
-- rows' writes, so a worker killed mid-import resumes after the last committed chunk.
CREATE TABLE hub.imports (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  type          text NOT NULL,
  -- uploading: the request is still streaming the file (not yet visible as an import).
  status        text NOT NULL CHECK (status IN ('uploading', 'queued', 'processing', 'finished', 'error')),
  -- delimiter, key, system, overrideExisting, updateOnlyEmptyFields
  options       jsonb NOT NULL,
  headers       text[] NOT NULL,
  total         integer NOT NULL DEFAULT 0,
  -- Rows numbered 1..total; every row below next_row has been written or reported.
  next_row      integer NOT NULL DEFAULT 1,
  success       integer NOT NULL DEFAULT 0,
  errors        integer NOT NULL DEFAULT 0,
  -- The first 100 row errors: [{row, field, message}]
  error_details jsonb NOT NULL DEFAULT '[]',
  message       text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX imports_created ON hub.imports (created_at DESC);
CREATE INDEX imports_status ON hub.imports (status);

CREATE TABLE hub.import_rows (
  import_id uuid NOT NULL REFERENCES hub.imports (id) ON DELETE CASCADE,
  n         integer NOT NULL,
  fields    text[] NOT NULL,
  PRIMARY KEY (import_id, n)
);
