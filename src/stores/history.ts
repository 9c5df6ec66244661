import type { Queryable } from '../db/queryable.ts'
import type { DataType } from '../models/index.ts'
import { redactText } from '../redact.ts'

export interface HistoryEntry {
  recordId?: string | null
  type: DataType
  systemId: string
  direction: 'inbound' | 'outbound'
  action: string
  /** created, updated, unchanged, deleted, linked, skipped, failed, retrying, held */
  outcome: string
  reason?: string | null
  externalId?: string | null
  jobId?: string | null
}

export async function addHistory (db: Queryable, e: HistoryEntry): Promise<void> {
  await db.query(
    `INSERT INTO hub.history (record_id, type, system_id, direction, action, outcome, reason, external_id, job_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [e.recordId ?? null, e.type, e.systemId, e.direction, e.action, e.outcome, e.reason ? redactText(e.reason) : null, e.externalId ?? null, e.jobId ?? null])
}

export async function historyOf (db: Queryable, recordId: string, limit = 200): Promise<unknown[]> {
  const { rows } = await db.query(
    `SELECT system_id AS "systemId", direction, action, outcome, reason, external_id AS "externalId",
            job_id AS "jobId", to_json(at)#>>'{}' AS at
     FROM hub.history WHERE record_id = $1 ORDER BY id DESC LIMIT $2`, [recordId, limit])
  return rows.reverse()
}
