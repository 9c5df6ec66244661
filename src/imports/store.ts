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

/** Rows per chunk: what a worker writes in one transaction, and redoes when it was killed in it. */
export const CHUNK_ROWS = 500

/** A chunk of an import's rows: `first`, `first + 1`, …, as one JSON document. */
export async function addChunk (db: Queryable, importId: string, first: number, rows: string[][]): Promise<void> {
  await db.query('INSERT INTO hub.import_chunks (import_id, n, rows) VALUES ($1, $2, $3::json)', [importId, first, JSON.stringify(rows)])
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

/** The rows from `from` to the end of the chunk that holds it (none past the last row). */
export async function rowsFrom (db: Queryable, id: string, from: number): Promise<{ n: number, fields: string[] }[]> {
  const { rows } = await db.query<{ n: number, rows: string[][] }>(
    'SELECT n, rows FROM hub.import_chunks WHERE import_id = $1 AND n <= $2 ORDER BY n DESC LIMIT 1', [id, from])
  if (!rows[0]) return []
  const { n, rows: fields } = rows[0]
  return fields.slice(from - n).map((f, i) => ({ n: from + i, fields: f }))
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
  await db.query('DELETE FROM hub.import_chunks WHERE import_id = $1', [id])
}
