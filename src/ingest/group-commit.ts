import type { JobInsert, PgBoss } from 'pg-boss'
import { inTransaction } from '../db/pool.ts'
import type { Queryable } from '../db/queryable.ts'
import type { Pool } from '../db/pool.ts'
import { insertJobs } from '../pipeline/jobs.ts'
import { INBOUND } from '../queue/queues.ts'

export interface Submission {
  systemId: string
  /** webhook-id or Idempotency-Key: a redelivery of the same event is dropped. */
  eventId?: string
  rows: JobInsert[]
}

export interface Receipt {
  /** Items taken: enqueued, or coalesced into a fetch of the same record already waiting. */
  accepted: number
  coalesced: number
  /** Items dropped because their event id was seen before. */
  duplicates: number
}

interface Pending { submission: Submission, resolve (r: Receipt): void, reject (e: unknown): void }

// Up to this many transactions in flight; requests arriving meanwhile wait and go together in
// the next one, so under load one commit (one WAL flush) answers hundreds of webhooks.
const MAX_PARALLEL = 4
const MAX_BATCH_JOBS = 2_000

/**
 * Group commit for ingest: each caller's jobs are committed (with its event id) before its
 * promise resolves, but concurrent callers share a transaction and one multi-row insert.
 */
export function groupCommit (pool: Pool, boss: PgBoss) {
  let queue: Pending[] = []
  let inFlight = 0

  function drain (): void {
    while (queue.length && inFlight < MAX_PARALLEL) {
      let jobs = 0
      let take = 0
      while (take < queue.length && (take === 0 || jobs + queue[take].submission.rows.length <= MAX_BATCH_JOBS)) {
        jobs += queue[take].submission.rows.length
        take++
      }
      const batch = queue.slice(0, take)
      queue = queue.slice(take)
      inFlight++
      commit(batch)
        .then(receipts => batch.forEach((p, i) => p.resolve(receipts[i])), err => batch.forEach(p => p.reject(err)))
        .finally(() => { inFlight--; drain() })
    }
  }

  async function commit (batch: Pending[]): Promise<Receipt[]> {
    return await inTransaction(pool, async tx => {
      const fresh = await freshEvents(tx, batch.map(p => p.submission))
      const rows = batch.flatMap((p, i) => fresh[i] ? p.submission.rows : [])
      const inserted = await insertJobs(boss, INBOUND, rows, tx)
      return batch.map((p, i) => {
        const n = p.submission.rows.length
        if (!fresh[i]) return { accepted: 0, coalesced: 0, duplicates: n }
        const coalesced = p.submission.rows.filter(r => !inserted.has(r.id!)).length
        return { accepted: n, coalesced, duplicates: 0 }
      })
    })
  }

  return {
    submit (submission: Submission): Promise<Receipt> {
      return new Promise((resolve, reject) => {
        queue.push({ submission, resolve, reject })
        // Let the requests already being read join this batch before it is sent.
        if (queue.length === 1) setImmediate(drain)
      })
    }
  }
}

/** Which submissions carry an event id not seen before (or none); records the new ones. */
async function freshEvents (tx: Queryable, submissions: Submission[]): Promise<boolean[]> {
  const withId = submissions.filter(s => s.eventId)
  if (!withId.length) return submissions.map(() => true)
  const { rows } = await tx.query<{ system_id: string, event_id: string }>(
    `INSERT INTO hub.hook_events (system_id, event_id)
     SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING RETURNING system_id, event_id`,
    [withId.map(s => s.systemId), withId.map(s => s.eventId)])
  const unclaimed = new Set(rows.map(r => `${r.system_id}\n${r.event_id}`))
  // The first submission of an event in this batch claims it; a second one is a duplicate.
  return submissions.map(s => !s.eventId || unclaimed.delete(`${s.systemId}\n${s.eventId}`))
}

