import { newId } from '../ids.ts'
import type { JobInsert, PgBoss } from 'pg-boss'
import type { SystemConfig } from '../config/systems.ts'
import { prepared } from '../db/prepared.ts'
import type { Queryable } from '../db/queryable.ts'
import type { DataType } from '../models/index.ts'
import { PRIORITY, concurrencyTier } from '../queue/queues.ts'
import type { Action } from '../stores/systems.ts'

/** Fetch one record from its source system into the hub. */
export interface InboundJob {
  system: string
  type: DataType
  action: Action
  /** The record's id in the source system. */
  id: string
  /** The record as a poll listed it (fullRecords): mapped as it is, not fetched again. */
  record?: unknown
  /** A delete asked for by a manual sync: done only if the source no longer has the record. */
  ifGone?: boolean
  debug?: boolean
  batchId?: string
  /** Retries so far (the job runner re-sends with attempt + 1). */
  attempt?: number
  /** The first job's id, kept by every re-send of the same work (see JobRun.deliveryId). */
  delivery?: string
  /** Times in a row held by an open circuit breaker (spends no attempt). */
  holds?: number
  /** The hub.errors row this job replays: resolved when the job completes. */
  replayOf?: number
}

/** Push one canonical record to one destination system. */
export interface OutboundJob {
  system: string
  type: DataType
  action: Action
  recordId: string
  /** The system the change came from (never sent back there). */
  origin?: string
  debug?: boolean
  batchId?: string
  attempt?: number
  delivery?: string
  holds?: number
  replayOf?: number
}


const priorityOf = (j: { debug?: boolean, batchId?: string }) => j.debug ? PRIORITY.debug : j.batchId ? PRIORITY.bulk : PRIORITY.live

/**
 * The pg-boss group that holds a system's jobs to its maxConcurrent at fetch. A debug job has
 * none: it takes no concurrency slot either (one extra call at most), and inside the group it
 * could not even be fetched while the jobs it jumps fill the system's capacity.
 */
const groupOf = (job: { system: string, debug?: boolean }, system?: SystemConfig) =>
  job.debug ? undefined : { id: job.system, tier: concurrencyTier(system?.throttle.maxConcurrent ?? 4) }

/**
 * The pg-boss row for an inbound job. Its singletonKey makes the queue's stately policy coalesce
 * fetches of one record; deletes have their own key so a queued fetch never swallows a delete;
 * bulk (manual sync) jobs theirs, so a live change never waits behind a bulk batch; and debug
 * jobs a unique one so they are never coalesced at all.
 */
export function inboundRow (job: InboundJob, system?: SystemConfig): JobInsert {
  const id = newId()
  const kind = (job.action === 'delete' ? 'delete' : 'fetch') + (job.debug ? `:debug:${id}` : job.batchId ? ':bulk' : '')
  return {
    id,
    data: job,
    priority: priorityOf(job),
    singletonKey: `${job.system}:${job.type}:${job.id}:${kind}`,
    group: groupOf(job, system)
  }
}

export function outboundRow (job: OutboundJob, system: SystemConfig): JobInsert {
  return {
    id: newId(),
    data: job,
    priority: priorityOf(job),
    group: groupOf(job, system)
  }
}

/**
 * A pg-boss `db` running on our client, so jobs commit with the caller's transaction. pg-boss
 * builds the same statements for every call on a queue (several KB of text): they are prepared
 * once per connection, so later calls send only their values.
 */
export const onClient = (db: Queryable) => ({
  executeSql: (text: string, values?: unknown[]) => db.query({ ...prepared(text), values: values as unknown[] })
})

/**
 * Insert rows in one statement on `db` (ours, never pg-boss's pool, whose commits are not
 * synchronous); returns the ids actually inserted (coalesced ones are absent).
 */
export async function insertJobs (boss: PgBoss, queue: string, rows: JobInsert[], db: Queryable): Promise<Set<string>> {
  if (!rows.length) return new Set()
  const ids = await boss.insert(queue, rows, { returnId: true, db: onClient(db) })
  return new Set(ids ?? [])
}
