import type { Queryable } from '../db/queryable.ts'
import { redactText } from '../redact.ts'

export interface ErrorEntry {
  systemId: string
  type: string
  direction: 'inbound' | 'outbound'
  scope: string
  recordId?: string | null
  externalId?: string | null
  message: string
  httpStatus?: number | null
  jobId: string
  queue: string
  jobData: unknown
}

/**
 * A final failure, for operators to read (GET /v1/errors) and replay; its message without secrets.
 * The failure of a replay (`supersedes`, the error it replayed) closes that error in its favour.
 */
export async function logError (db: Queryable, e: ErrorEntry, supersedes?: number): Promise<void> {
  await db.query(
    `WITH logged AS (
       INSERT INTO hub.errors (system_id, type, direction, scope, record_id, external_id, message, http_status, job_id, queue, job_data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id)
     UPDATE hub.errors SET resolved_at = now(), superseded_by = (SELECT id FROM logged) WHERE id = $12 AND resolved_at IS NULL`,
    [e.systemId, e.type, e.direction, e.scope, e.recordId ?? null, e.externalId ?? null, redactText(e.message), e.httpStatus ?? null, e.jobId, e.queue, e.jobData, supersedes ?? null])
}

export interface ErrorFilter {
  system?: string
  type?: string
  direction?: 'inbound' | 'outbound'
  /** Part of the message, any case. */
  text?: string
  since?: string
  resolved?: boolean
}

const likePattern = (text: string) => '%' + text.replace(/[\\%_]/g, c => '\\' + c) + '%'

/** The WHERE clause of a filter, its parameters numbered from $1. */
export function errorWhere (f: ErrorFilter): { where: string, params: unknown[] } {
  const params: unknown[] = []
  const terms: string[] = []
  const add = (sql: string, value: unknown) => { params.push(value); terms.push(sql.replace('?', `$${params.length}`)) }
  if (f.system !== undefined) add('system_id = ?', f.system)
  if (f.type !== undefined) add('type = ?', f.type)
  if (f.direction !== undefined) add('direction = ?', f.direction)
  if (f.text !== undefined) add('message ILIKE ?', likePattern(f.text))
  if (f.since !== undefined) add('at >= ?::timestamptz', f.since)
  if (f.resolved !== undefined) terms.push(f.resolved ? 'resolved_at IS NOT NULL' : 'resolved_at IS NULL')
  return { where: terms.length ? terms.join(' AND ') : 'true', params }
}

export const errorColumns = `id, system_id AS system, type, direction, scope, record_id AS "recordId", external_id AS "externalId",
  message, http_status AS "httpStatus", job_id AS "jobId", to_json(at)#>>'{}' AS at,
  replay_job_id AS "replayJobId", to_json(replayed_at)#>>'{}' AS "replayedAt", to_json(resolved_at)#>>'{}' AS "resolvedAt",
  superseded_by AS "supersededBy"`

/** A replay of this error succeeded (called by the job runner when the replay job completes). */
export async function resolveError (db: Queryable, id: number): Promise<void> {
  await db.query('UPDATE hub.errors SET resolved_at = now() WHERE id = $1 AND resolved_at IS NULL', [id])
}
