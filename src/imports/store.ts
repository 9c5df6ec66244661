import type { Queryable } from '../db/queryable.ts'
import type { DataType } from '../models/index.ts'

export interface ImportOptions {
  delimiter: string
  /** The top-level field that matches existing records. */
  key: string
  /** Rows are this system's records, mapped by its inbound flow. */
  system?: string
  overrideExisting: boolean
  updateOnlyEmptyFields: boolean
}

export type ImportStatus = 'queued' | 'processing' | 'finished' | 'error'
export interface RowError { row: number, field: string, message: string }

export interface ImportView {
  id: string
  type: DataType
  status: ImportStatus
  total: number
  success: number
  errors: number
  errorDetails: RowError[]
  message: string | null
  options: ImportOptions
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
}

/** The row errors an import keeps (seed 002 shows counts; the first ones say what went wrong). */
export const KEPT_ERRORS = 100

const view = `id, type, status, total, success, errors, error_details AS "errorDetails", message, options,
  to_json(created_at)#>>'{}' AS "createdAt", to_json(started_at)#>>'{}' AS "startedAt", to_json(finished_at)#>>'{}' AS "finishedAt"`

/** An import still uploading: invisible to the API until markQueued commits with its rows. */
export async function createImport (db: Queryable, type: DataType, options: ImportOptions, headers: string[]): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    "INSERT INTO hub.imports (type, status, options, headers) VALUES ($1, 'uploading', $2, $3) RETURNING id", [type, options, headers])
  return rows[0].id
}

/** Rows `first`, `first + 1`, … of an import, in one statement. */
export async function addRows (db: Queryable, importId: string, first: number, rows: string[][]): Promise<void> {
  // text[][] must be rectangular, so each row travels as one JSON array.
  await db.query(
    `INSERT INTO hub.import_rows (import_id, n, fields)
     SELECT $1, $2 + ord - 1, ARRAY(SELECT jsonb_array_elements_text(r)) FROM unnest($3::jsonb[]) WITH ORDINALITY AS u(r, ord)`,
    [importId, first, rows.map(r => JSON.stringify(r))])
}

export async function markQueued (db: Queryable, importId: string, total: number): Promise<void> {
  await db.query("UPDATE hub.imports SET status = 'queued', total = $2 WHERE id = $1", [importId, total])
}

/** Imports waiting to run (seed 002 allows 10). */
export async function waitingImports (db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM hub.imports WHERE status = 'queued'")
  return rows[0].n
}

export async function getImport (db: Queryable, id: string): Promise<ImportView | undefined> {
  const { rows } = await db.query<ImportView>(`SELECT ${view} FROM hub.imports WHERE id = $1 AND status <> 'uploading'`, [id])
  return rows[0]
}

export async function listImports (db: Queryable, limit: number): Promise<ImportView[]> {
  const { rows } = await db.query<ImportView>(
    `SELECT ${view} FROM hub.imports WHERE status <> 'uploading' ORDER BY created_at DESC, id LIMIT $1`, [limit])
  return rows
}

/** Delete a finished or failed import; the status it has when it cannot be deleted. */
export async function deleteImport (db: Queryable, id: string): Promise<'deleted' | ImportStatus | undefined> {
  const { rows } = await db.query<{ status: ImportStatus, deleted: boolean }>(
    `WITH d AS (DELETE FROM hub.imports WHERE id = $1 AND status IN ('finished', 'error') RETURNING id)
     SELECT status, EXISTS (SELECT 1 FROM d) AS deleted FROM hub.imports WHERE id = $1 AND status <> 'uploading'`, [id])
  if (!rows[0]) return undefined
  return rows[0].deleted ? 'deleted' : rows[0].status
}

export interface ImportRun {
  id: string
  type: DataType
  status: ImportStatus
  options: ImportOptions
  headers: string[]
  nextRow: number
  total: number
  kept: number
}

/** The import, locked for this chunk: a second worker handed the same import waits here. */
export async function lockImport (db: Queryable, id: string): Promise<ImportRun | undefined> {
  const { rows } = await db.query<ImportRun>(
    `SELECT id, type, status, options, headers, next_row AS "nextRow", total, jsonb_array_length(error_details) AS kept
     FROM hub.imports WHERE id = $1 FOR UPDATE`, [id])
  return rows[0]
}

export async function rowsFrom (db: Queryable, id: string, from: number, limit: number): Promise<{ n: number, fields: string[] }[]> {
  // Rows are numbered without gaps: a bounded range is a primary-key probe, where `n >= from LIMIT`
  // let the planner sort the whole import first while the freshly uploaded rows had no statistics.
  // As JSON: pg parses a text[] column several times slower than JSON.parse does the same array.
  const { rows } = await db.query<{ n: number, fields: string[] }>(
    'SELECT n, to_json(fields) AS fields FROM hub.import_rows WHERE import_id = $1 AND n >= $2 AND n < $2 + $3 ORDER BY n', [id, from, limit])
  return rows
}

/** A chunk's outcome, committed with its rows' writes: the import resumes after it. */
export async function recordProgress (db: Queryable, id: string, nextRow: number, success: number, errors: RowError[], errorCount: number): Promise<void> {
  await db.query(
    `UPDATE hub.imports SET status = 'processing', started_at = COALESCE(started_at, now()), next_row = $2,
       success = success + $3, errors = errors + $5, error_details = error_details || $4::jsonb
     WHERE id = $1`, [id, nextRow, success, JSON.stringify(errors), errorCount])
}

/** The end of an import: its rows are dropped (their records are written). */
export async function finishImport (db: Queryable, id: string, status: 'finished' | 'error', message?: string): Promise<void> {
  await db.query(
    'UPDATE hub.imports SET status = $2, message = $3, finished_at = now(), started_at = COALESCE(started_at, now()) WHERE id = $1',
    [id, status, message ?? null])
  await db.query('DELETE FROM hub.import_rows WHERE import_id = $1', [id])
}
