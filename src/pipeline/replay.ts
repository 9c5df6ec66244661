import type { PgBoss } from 'pg-boss'
import { inTransaction } from '../db/pool.ts'
import type { Pool } from '../db/pool.ts'
import { conflict } from '../errors.ts'
import { findFlow } from '../stores/systems.ts'
import type { SystemRegistry } from '../stores/systems.ts'
import { inboundRow, insertJobs, outboundRow } from './jobs.ts'
import type { InboundJob, OutboundJob } from './jobs.ts'
import { INBOUND } from '../queue/queues.ts'

export interface ReplayContext { pool: Pool, boss: PgBoss, systems: SystemRegistry }

export interface FailedJob {
  id: number
  queue: string
  direction: 'inbound' | 'outbound'
  jobId: string | null
  jobData: InboundJob | OutboundJob
  resolved: boolean
  /** The job its last replay queued. */
  replayJobId: string | null
}

/**
 * Queue the work of a logged failure again, as a fresh job with a full retry budget. It keeps
 * the failed job's delivery id, so a destination's idempotency key is the one it saw before, and
 * carries the error's id, so the job runner marks the error resolved when it completes. Refused
 * (409) when the error is resolved, or its system or flow is gone.
 */
export async function replayError (ctx: ReplayContext, e: FailedJob): Promise<{ jobId: string | null }> {
  if (e.resolved) throw conflict(`error ${e.id} is resolved already`)
  // One replay at a time: a second, while the first waits or runs, would do the work twice.
  if (e.replayJobId) {
    const { rows } = await ctx.pool.query(`SELECT state FROM pgboss.job WHERE id = $1 AND state IN ('created', 'retry', 'active')`, [e.replayJobId])
    if (rows.length) throw conflict(`error ${e.id} is being replayed already (job ${e.replayJobId}, ${rows[0].state})`)
  }
  const d = e.jobData
  const system = await ctx.systems.get(d.system)
  if (!system) throw conflict(`error ${e.id} cannot be replayed: system '${d.system}' no longer exists`)
  if (!findFlow(system, d.type, e.direction, d.action)) {
    throw conflict(`error ${e.id} cannot be replayed: system '${d.system}' has no enabled ${e.direction} ${d.type} flow for '${d.action}'`)
  }
  const data = { ...d, attempt: undefined, holds: undefined, delivery: d.delivery ?? e.jobId ?? undefined, replayOf: e.id }
  const row = e.queue === INBOUND ? inboundRow(data as InboundJob, system) : outboundRow(data as OutboundJob, system)
  return await inTransaction(ctx.pool, async client => {
    // An inbound fetch of the same record already queued absorbs this one (the queue's policy).
    const [jobId = null] = [...await insertJobs(ctx.boss, e.queue, [row], client)]
    await client.query('UPDATE hub.errors SET replay_job_id = $2, replayed_at = now() WHERE id = $1', [e.id, jobId])
    return { jobId }
  })
}
