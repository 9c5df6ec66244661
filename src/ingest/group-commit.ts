import type { JobInsert, PgBoss } from 'pg-boss'
import { isDatabaseUnavailable } from '../db/errors.ts'
import { inTransaction } from '../db/pool.ts'
import { unavailable } from '../errors.ts'
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

interface Pending { submission: Submission, resolve (r: Receipt): void, reject (e: unknown): void, since: number }

// Up to this many transactions in flight; requests arriving meanwhile wait and go together in
// the next one, so under load one commit (one WAL flush) answers hundreds of webhooks. While one
// is in flight another starts only for MIN_SHARED jobs or more: a few webhooks sent alongside it
// cost a statement of their own and leave every batch smaller (measured under 100 connections:
// batches of ~20 instead of ~45, and half as much PostgreSQL time again per webhook), where
// waiting for the commit in flight costs them one commit's time.
const MAX_PARALLEL = 4
const MIN_SHARED = 32
const MAX_BATCH_JOBS = 2_000

export interface IngestLimits {
  /** A request that waited this long without its transaction starting gets 503 (nothing stored). */
  maxWaitMs: number
  /** Requests waiting beyond this many are refused at once with 503. */
  maxWaiting: number
}
// A sender's own timeout is commonly 10 s or more: answer 503 + Retry-After well before it, so
// it retries later instead of giving up on a request that hangs behind a stalled database.
const DEFAULT_LIMITS: IngestLimits = { maxWaitMs: 5_000, maxWaiting: 20_000 }
const RETRY_AFTER_S = 5

/**
 * Group commit for ingest: each caller's jobs are committed (with its event id) before its
 * promise resolves, but concurrent callers share a transaction and one multi-row insert.
 */
export function groupCommit (pool: Pool, boss: PgBoss, limits: IngestLimits = DEFAULT_LIMITS) {
  let queue: Pending[] = []
  let inFlight = 0
  let watchdog: NodeJS.Timeout | undefined

  function drain (): void {
    expire()
    // While every transaction hangs (a stalled database), nothing else calls drain: wake up
    // when the oldest waiting request is due to be refused.
    if (queue.length && !watchdog) {
      watchdog = setTimeout(() => { watchdog = undefined; drain() }, queue[0].since + limits.maxWaitMs + 10 - Date.now()).unref()
    }
    while (queue.length && inFlight < MAX_PARALLEL && (inFlight === 0 || waitingAtLeast(MIN_SHARED))) {
      let jobs = 0
      let take = 0
      while (take < queue.length && (take === 0 || jobs + queue[take].submission.rows.length <= MAX_BATCH_JOBS)) {
        jobs += queue[take].submission.rows.length
        take++
      }
      const batch = queue.slice(0, take)
      queue = queue.slice(take)
      inFlight++
      settle(batch).finally(() => { inFlight--; drain() })
    }
  }

  /** Whether the waiting requests carry `n` jobs or more (counting no further than that). */
  function waitingAtLeast (n: number): boolean {
    let jobs = 0
    for (const p of queue) if ((jobs += p.submission.rows.length) >= n) return true
    return false
  }

  /** Refuse the requests that waited too long for a transaction: none of their jobs is stored. */
  function expire (): void {
    const limit = Date.now() - limits.maxWaitMs
    if (!queue.length || queue[0].since > limit) return
    const late = queue.filter(p => p.since <= limit)
    queue = queue.filter(p => p.since > limit)
    for (const p of late) p.reject(unavailable('the hub could not store the webhook in time (database slow or unavailable); retry later', RETRY_AFTER_S))
  }

  /**
   * Commit a batch; if it fails for anything but the database being away, one member's data
   * must not fail the others: commit each alone so the failure stays with its owner.
   */
  async function settle (batch: Pending[]): Promise<void> {
    try {
      const receipts = await commit(batch)
      batch.forEach((p, i) => p.resolve(receipts[i]))
    } catch (err) {
      if (batch.length === 1 || isDatabaseUnavailable(err)) {
        batch.forEach(p => p.reject(err))
        return
      }
      for (const p of batch) {
        await commit([p]).then(([receipt]) => p.resolve(receipt), e => p.reject(e))
      }
    }
  }

  async function commit (batch: Pending[]): Promise<Receipt[]> {
    const submissions = batch.map(p => p.submission)
    // Without event ids the insert is the only statement, and one statement commits by itself:
    // no BEGIN and COMMIT round trips (each costs the hub a socket write and a wait).
    if (!submissions.some(s => s.eventId)) {
      return receipts(submissions, submissions.map(() => true), await insertJobs(boss, INBOUND, submissions.flatMap(s => s.rows), pool))
    }
    return await inTransaction(pool, async tx => {
      const fresh = await freshEvents(tx, submissions)
      const rows = submissions.flatMap((s, i) => fresh[i] ? s.rows : [])
      return receipts(submissions, fresh, await insertJobs(boss, INBOUND, rows, tx))
    })
  }

  return {
    submit (submission: Submission): Promise<Receipt> {
      return new Promise((resolve, reject) => {
        if (queue.length >= limits.maxWaiting) {
          reject(unavailable(`the hub is overloaded (${queue.length} webhooks waiting to be stored); retry later`, RETRY_AFTER_S))
          return
        }
        queue.push({ submission, resolve, reject, since: Date.now() })
        // Let the requests already being read join this batch before it is sent.
        if (queue.length === 1) setImmediate(drain)
      })
    }
  }
}

/** Each submission's receipt, from whether its event was fresh and which job ids were inserted. */
function receipts (submissions: Submission[], fresh: boolean[], inserted: Set<string>): Receipt[] {
  return submissions.map((s, i) => {
    const n = s.rows.length
    if (!fresh[i]) return { accepted: 0, coalesced: 0, duplicates: n }
    const coalesced = s.rows.filter(r => !inserted.has(r.id!)).length
    return { accepted: n, coalesced, duplicates: 0 }
  })
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

