import type { Queryable } from '../db/queryable.ts'
import type { DataType } from '../models/index.ts'
import { POLL } from '../queue/queues.ts'

/** Where cursor mode stands: the last record whose inbound job committed. */
export interface Cursor { token: string, id: string }

/** What one run did, kept as the last run and shown while it goes on. */
export interface RunReport {
  mode: 'cursor' | 'audit'
  jobId: string
  initialize: boolean
  startedAt: string
  endedAt?: string
  pages: number
  seen: number
  enqueued: number
  deleted: number
  /** The listing reached its end (audit mode deletes only then). */
  complete: boolean
  /** Stopped at the batch limit: the rest follow in the next run. */
  cut: boolean
  error?: string
}

export interface PollState {
  cursor: Cursor | null
  runNo: number
  current: RunReport | null
  lastRun: RunReport | null
  lastError: string | null
}

/** The state of one (system, type), created empty on first use. */
export async function readState (db: Queryable, system: string, type: DataType): Promise<PollState> {
  const { rows: [row] } = await db.query(
    'SELECT cursor, run_no, current, last_run, last_error FROM hub.poll_state WHERE system_id = $1 AND type = $2', [system, type])
  return { cursor: row?.cursor ?? null, runNo: Number(row?.run_no ?? 0), current: row?.current ?? null, lastRun: row?.last_run ?? null, lastError: row?.last_error ?? null }
}

/**
 * The run going on, if any: `current` unless its job is over. A process killed mid-run (SIGKILL,
 * a lost machine) leaves its report behind, and pg-boss fails the job once its heartbeat stops.
 */
export async function runningRun (db: Queryable, state: Pick<PollState, 'current'>): Promise<RunReport | null> {
  if (!state.current) return null
  const { rows } = await db.query(`SELECT 1 FROM pgboss.job WHERE name = $1 AND id = $2 AND state IN ('created', 'retry', 'active')`, [POLL, state.current.jobId])
  return rows.length ? state.current : null
}

/** A run begins: its report becomes `current`; audit mode gets the next run number. */
export async function beginRun (db: Queryable, system: string, type: DataType, report: RunReport): Promise<PollState> {
  const { rows: [row] } = await db.query(
    `INSERT INTO hub.poll_state AS s (system_id, type, run_no, current) VALUES ($1, $2, 1, $3)
     ON CONFLICT (system_id, type) DO UPDATE SET run_no = s.run_no + 1, current = excluded.current, updated_at = now()
     RETURNING cursor, run_no, last_run, last_error`, [system, type, report])
  return { cursor: row.cursor, runNo: Number(row.run_no), current: report, lastRun: row.last_run, lastError: row.last_error }
}

/** Progress of the running run; with `cursor`, the cursor too (in the transaction that queued the work). */
export async function saveProgress (db: Queryable, system: string, type: DataType, report: RunReport, cursor?: Cursor): Promise<void> {
  await db.query(
    `UPDATE hub.poll_state SET current = $3, cursor = CASE WHEN $4::jsonb IS NULL THEN cursor ELSE $4::jsonb END, updated_at = now()
     WHERE system_id = $1 AND type = $2`, [system, type, report, cursor ?? null])
}

export async function endRun (db: Queryable, system: string, type: DataType, report: RunReport): Promise<void> {
  await db.query(
    `UPDATE hub.poll_state SET current = NULL, last_run = $3, last_error = CASE WHEN $4::text IS NULL THEN last_error ELSE $4 END, updated_at = now()
     WHERE system_id = $1 AND type = $2`, [system, type, report, report.error ?? null])
}

/**
 * Forget what has been polled: no cursor, and every audited record counts as changed, so the
 * next run is a full pull. Unchanged records stop at the content hash, as from any door.
 */
export async function resetState (db: Queryable, system: string, type: DataType): Promise<void> {
  await db.query('UPDATE hub.poll_state SET cursor = NULL, last_error = NULL, updated_at = now() WHERE system_id = $1 AND type = $2', [system, type])
  await db.query('UPDATE hub.poll_audit SET hash = NULL WHERE system_id = $1 AND type = $2', [system, type])
}

/**
 * Audit mode, one page in one statement: records listed with the hash the audit table holds are
 * marked seen by this run; the others come back, new ones flagged. `all` (initialization) returns
 * every record.
 */
export async function diffPage (db: Queryable, system: string, type: DataType, runNo: number, ids: string[], hashes: string[], all: boolean): Promise<Array<{ id: string, hash: string, isNew: boolean }>> {
  const { rows } = await db.query<{ id: string, hash: string, is_new: boolean }>(
    `WITH page AS (SELECT * FROM unnest($3::text[], $4::text[]) AS p(id, hash)),
     seen AS (
       UPDATE hub.poll_audit a SET seen_run = $5, last_seen = now() FROM page p
       WHERE a.system_id = $1 AND a.type = $2 AND a.external_id = p.id AND a.hash = p.hash AND NOT $6
       RETURNING a.external_id)
     SELECT p.id, p.hash, a.external_id IS NULL AS is_new
     FROM page p LEFT JOIN hub.poll_audit a ON a.system_id = $1 AND a.type = $2 AND a.external_id = p.id
     WHERE p.id NOT IN (SELECT external_id FROM seen)`, [system, type, ids, hashes, runNo, all])
  return rows.map(r => ({ id: r.id, hash: r.hash, isNew: r.is_new }))
}

/** Records whose jobs are queued: their hashes, seen by this run. */
export async function recordAudited (db: Queryable, system: string, type: DataType, runNo: number, ids: string[], hashes: string[]): Promise<void> {
  await db.query(
    `INSERT INTO hub.poll_audit (system_id, type, external_id, hash, seen_run) SELECT $1, $2, u.id, u.hash, $5 FROM unnest($3::text[], $4::text[]) AS u(id, hash)
     ON CONFLICT (system_id, type, external_id) DO UPDATE SET hash = excluded.hash, seen_run = excluded.seen_run, last_seen = now()`,
    [system, type, ids, hashes, runNo])
}

/** Whether a complete listing of run `runNo` left out any audited record. */
export async function anyMissing (db: Queryable, system: string, type: DataType, runNo: number): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM hub.poll_audit WHERE system_id = $1 AND type = $2 AND seen_run < $3 LIMIT 1', [system, type, runNo])
  return rows.length > 0
}

/** Audited records a complete listing of run `runNo` did not contain, removed from the audit table. */
export async function takeMissing (db: Queryable, system: string, type: DataType, runNo: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ external_id: string }>(
    `DELETE FROM hub.poll_audit WHERE (system_id, type, external_id) IN (
       SELECT system_id, type, external_id FROM hub.poll_audit WHERE system_id = $1 AND type = $2 AND seen_run < $3 LIMIT $4)
     RETURNING external_id`, [system, type, runNo, limit])
  return rows.map(r => r.external_id)
}
