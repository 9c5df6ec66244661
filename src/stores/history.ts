import { prepared } from '../db/prepared.ts'
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
  await addHistories(db, [e])
}

/** Several history rows in one statement. */
export async function addHistories (db: Queryable, entries: HistoryEntry[]): Promise<void> {
  if (!entries.length) return
  const column = <K extends keyof HistoryEntry>(k: K) => entries.map(e => e[k] ?? null)
  await db.query({
    ...prepared(`INSERT INTO hub.history (record_id, type, system_id, direction, action, outcome, reason, external_id, job_id)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::uuid[])`),
    values: [column('recordId'), column('type'), column('systemId'), column('direction'), column('action'), column('outcome'),
      entries.map(e => e.reason ? redactText(e.reason) : null), column('externalId'), column('jobId')]
  })
}

export async function historyOf (db: Queryable, recordId: string, limit = 200): Promise<unknown[]> {
  const { rows } = await db.query(
    `SELECT system_id AS "systemId", direction, action, outcome, reason, external_id AS "externalId",
            job_id AS "jobId", to_json(at)#>>'{}' AS at
     FROM hub.history WHERE record_id = $1 ORDER BY id DESC LIMIT $2`, [recordId, limit])
  return rows.reverse()
}
