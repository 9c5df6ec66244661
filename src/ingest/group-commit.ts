import type { JobInsert, PgBoss } from 'pg-boss'
import { batcher } from '../db/batcher.ts'
import { inTransaction } from '../db/pool.ts'
import { unavailable } from '../errors.ts'
import type { Queryable } from '../db/queryable.ts'
import type { Pool } from '../db/pool.ts'
import { accept, oneStatement } from './backlog.ts'

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
 * Group commit for ingest (src/db/batcher.ts): each caller's webhooks are committed to the
 * backlog (with its event id) before its promise resolves, but concurrent callers share a
 * transaction and one multi-row insert.
 */
export function groupCommit (pool: Pool, boss: PgBoss, limits: IngestLimits = DEFAULT_LIMITS) {
  async function commit (submissions: Submission[]): Promise<Receipt[]> {
    // Without event ids the insert is usually the only statement, and one statement commits by
    // itself: no BEGIN and COMMIT round trips (each costs the hub a socket write and a wait).
    const rows = submissions.flatMap(s => s.rows)
    if (!submissions.some(s => s.eventId) && oneStatement(rows)) {
      return receipts(submissions, submissions.map(() => true), await accept(boss, rows, pool))
    }
    return await inTransaction(pool, async tx => {
      const fresh = await freshEvents(tx, submissions)
      return receipts(submissions, fresh, await accept(boss, submissions.flatMap((s, i) => fresh[i] ? s.rows : []), tx))
    })
  }
  return {
    submit: batcher(commit, {
      maxParallel: MAX_PARALLEL,
      minShared: MIN_SHARED,
      weight: s => s.rows.length,
      maxWeight: MAX_BATCH_JOBS,
      maxWaitMs: limits.maxWaitMs,
      expired: () => unavailable('the hub could not store the webhook in time (database slow or unavailable); retry later', RETRY_AFTER_S),
      maxWaiting: limits.maxWaiting,
      overloaded: waiting => unavailable(`the hub is overloaded (${waiting} webhooks waiting to be stored); retry later`, RETRY_AFTER_S)
    })
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

