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

/** A final failure, for operators to read (GET /v1/errors) and replay; its message without secrets. */
export async function logError (db: Queryable, e: ErrorEntry): Promise<void> {
  await db.query(
    `INSERT INTO hub.errors (system_id, type, direction, scope, record_id, external_id, message, http_status, job_id, queue, job_data)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [e.systemId, e.type, e.direction, e.scope, e.recordId ?? null, e.externalId ?? null, redactText(e.message), e.httpStatus ?? null, e.jobId, e.queue, e.jobData])
}
