import { randomUUID } from 'node:crypto'
import type { JobInsert, PgBoss } from 'pg-boss'
import type { SystemConfig } from '../config/systems.ts'
import type { Queryable } from '../db/queryable.ts'
import type { DataType } from '../models/index.ts'
import { INBOUND, OUTBOUND, PRIORITY, concurrencyTier } from '../queue/queues.ts'
import type { Action } from '../stores/systems.ts'

/** Fetch one record from its source system into the hub. */
export interface InboundJob {
  system: string
  type: DataType
  action: Action
  /** The record's id in the source system. */
  id: string
  debug?: boolean
  batchId?: string
  /** Retries so far (the job runner re-sends with attempt + 1). */
  attempt?: number
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
}

export interface JobRow { id: string, data: object, priority: number, singletonKey?: string, group?: { id: string, tier?: string }, startAfter?: Date }

const priorityOf = (j: { debug?: boolean, batchId?: string }) => j.debug ? PRIORITY.debug : j.batchId ? PRIORITY.bulk : PRIORITY.live

/**
 * The pg-boss row for an inbound job. Its singletonKey makes the queue's stately policy coalesce
 * fetches of one record; deletes have their own key so a queued fetch never swallows a delete,
 * and debug jobs a unique one so they are never coalesced into a non-debug job.
 */
export function inboundRow (job: InboundJob, system?: SystemConfig): JobInsert {
  const kind = job.action === 'delete' ? 'delete' : 'fetch'
  const id = randomUUID()
  return {
    id,
    data: job,
    priority: priorityOf(job),
    singletonKey: `${job.system}:${job.type}:${job.id}:${kind}${job.debug ? `:debug:${id}` : ''}`,
    group: { id: job.system, tier: concurrencyTier(system?.throttle.maxConcurrent ?? 4) }
  }
}

export function outboundRow (job: OutboundJob, system: SystemConfig): JobInsert {
  return {
    id: randomUUID(),
    data: job,
    priority: priorityOf(job),
    group: { id: job.system, tier: concurrencyTier(system.throttle.maxConcurrent) }
  }
}

/** A pg-boss `db` running on our client, so jobs commit with the caller's transaction. */
export const onClient = (db: Queryable) => ({ executeSql: (text: string, values?: unknown[]) => db.query(text, values as unknown[]) })

/** Insert rows in one statement; returns the ids actually inserted (coalesced ones are absent). */
export async function insertJobs (boss: PgBoss, queue: typeof INBOUND | typeof OUTBOUND, rows: JobInsert[], db?: Queryable): Promise<Set<string>> {
  if (!rows.length) return new Set()
  const ids = await boss.insert(queue, rows, { returnId: true, ...(db ? { db: onClient(db) } : {}) })
  return new Set(ids ?? [])
}
