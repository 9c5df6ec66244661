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
  unchanged: number
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

const view = `id, type, status, total, success, unchanged, errors, error_details AS "errorDetails", message, options,
  to_json(created_at)#>>'{}' AS "createdAt", to_json(started_at)#>>'{}' AS "startedAt", to_json(finished_at)#>>'{}' AS "finishedAt"`

/** An import still uploading: invisible to the API until markQueued commits with its rows. */
export async function createImport (db: Queryable, type: DataType, options: ImportOptions, headers: string[]): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    "INSERT INTO hub.imports (type, status, options, headers) VALUES ($1, 'uploading', $2, $3) RETURNING id", [type, options, headers])
  return rows[0].id
}

/** Rows per chunk: what a worker writes in one transaction, and redoes when it was killed in it. */
export const CHUNK_ROWS = 500

/** A chunk of an import's rows: `first`, `first + 1`, …, as one JSON document, with the file's line of each. */
export async function addChunk (db: Queryable, importId: string, first: number, rows: string[][], lines: number[]): Promise<void> {
  await db.query('INSERT INTO hub.import_chunks (import_id, n, rows, lines) VALUES ($1, $2, $3::json, $4)', [importId, first, JSON.stringify(rows), lines])
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
}

export async function importRun (db: Queryable, id: string): Promise<ImportRun | undefined> {
  const { rows } = await db.query<ImportRun>('SELECT id, type, status, options, headers FROM hub.imports WHERE id = $1', [id])
  return rows[0]
}

export interface Chunk {
  n: number
  rows: string[][]
  /** The file's line of each row; null in chunks stored before migration 013. */
  lines: number[] | null
}

/** The first chunk after row `after` still to write. */
export async function nextChunk (db: Queryable, id: string, after: number): Promise<Chunk | undefined> {
  const { rows } = await db.query<Chunk>('SELECT n, rows, lines FROM hub.import_chunks WHERE import_id = $1 AND n > $2 ORDER BY n LIMIT 1', [id, after])
  return rows[0]
}

/** The file's line of a chunk's row `i`, which row errors name (the header is line 1). */
export const lineOf = (chunk: Chunk, i: number) => chunk.lines?.[i] ?? chunk.n + i + 1

/**
 * Take a chunk for the transaction that writes it: false when it is written already (another
 * worker ran it, waited for here until it committed) or the import is gone.
 */
export async function takeChunk (db: Queryable, id: string, n: number): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM hub.import_chunks WHERE import_id = $1 AND n = $2', [id, n])
  return rowCount === 1
}

export interface ChunkOutcome { success: number, unchanged: number, errors: RowError[], errorCount: number }

/**
 * A chunk's outcome, committed with its rows' writes. Chunks commit in any order: the kept row
 * errors are the first KEPT_ERRORS by row, whichever chunk brought them.
 */
export async function addProgress (db: Queryable, id: string, o: ChunkOutcome): Promise<void> {
  await db.query(
    `UPDATE hub.imports SET status = 'processing', started_at = COALESCE(started_at, now()),
       success = success + $2, unchanged = unchanged + $3, errors = errors + $5,
       error_details = CASE WHEN $4::jsonb = '[]' THEN error_details ELSE (
         SELECT jsonb_agg(e ORDER BY (e->>'row')::int, n) FROM (
           SELECT e, n FROM jsonb_array_elements(error_details || $4::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY (e->>'row')::int, n LIMIT $6) AS kept) END
     WHERE id = $1`, [id, o.success, o.unchanged, JSON.stringify(o.errors.slice(0, KEPT_ERRORS)), o.errorCount, KEPT_ERRORS])
}

/** The end of an import: its rows left, if any, are dropped. */
export async function finishImport (db: Queryable, id: string, status: 'finished' | 'error', message?: string): Promise<void> {
  await db.query(
    `UPDATE hub.imports SET status = $2, message = $3, finished_at = now(), started_at = COALESCE(started_at, now())
     WHERE id = $1 AND status NOT IN ('finished', 'error')`,
    [id, status, message ?? null])
  await db.query('DELETE FROM hub.import_chunks WHERE import_id = $1', [id])
}
