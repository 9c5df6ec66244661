import { randomUUID } from 'node:crypto'
import type { PgBoss } from 'pg-boss'
import { CronExpressionParser } from 'cron-parser'
import type { SystemConfig } from '../config/systems.ts'
import { inTransaction } from '../db/pool.ts'
import type { Pool } from '../db/pool.ts'
import type { Queryable } from '../db/queryable.ts'
import { notFound, unprocessable } from '../errors.ts'
import type { DataType } from '../models/index.ts'
import { insertJobs } from '../pipeline/jobs.ts'
import { POLL } from '../queue/queues.ts'
import type { SystemRegistry } from '../stores/systems.ts'
import { pollFlow } from './run.ts'
import type { PollJob } from './run.ts'
import { readState, runningRun } from './state.ts'
import type { RunReport } from './state.ts'

type Ctx = { pool: Pool, boss: PgBoss, systems: Pick<SystemRegistry, 'get'> }

/** The poll queue's singleton key: pg-boss keeps one run of it queued or running, across processes. */
export const pollKey = (system: string, type: string) => `${system}/${type}`

/** A trigger's answer: a run was queued, or one is already queued or running (with its progress). */
export interface Triggered { started: boolean, running: boolean, jobId?: string, progress: RunReport | null }

/** The system and its poll flow for `type`; a 404 or 422 naming what is missing. */
export async function pollTarget (systems: Pick<SystemRegistry, 'get'>, systemId: string, type: DataType): Promise<SystemConfig> {
  const system = await systems.get(systemId)
  if (!system) throw notFound(`no system '${systemId}'`)
  if (!pollFlow(system, type)) {
    throw unprocessable(`${systemId} does not poll ${type}: it needs an enabled inbound ${type} flow with poll, and types.${type}.list`)
  }
  return system
}

/** Queue a poll run on `db` (the caller's transaction, if any). */
async function queueRun (ctx: Ctx, db: Queryable, job: PollJob): Promise<Triggered> {
  const id = randomUUID()
  const inserted = await insertJobs(ctx.boss, POLL, [{ id, data: job, singletonKey: pollKey(job.system, job.type) }], db)
  if (inserted.has(id)) return { started: true, running: false, jobId: id, progress: null }
  return { started: false, running: true, progress: await runningRun(ctx.pool, await readState(ctx.pool, job.system, job.type)) }
}

/** Run a poll now (POST /v1/systems/:id/poll/:type, and the schedule's own jobs go the same way). */
export async function triggerPoll (ctx: Ctx, systemId: string, type: DataType): Promise<Triggered> {
  await pollTarget(ctx.systems, systemId, type)
  return await queueRun(ctx, ctx.pool, { system: systemId, type })
}

/**
 * A run tracked as a manual sync batch (GET /v1/sync/:id): `<type>/poll` in a manual sync, and
 * initialization (every record, no batch limit). The batch exists only if its run was queued.
 */
export async function triggerBatch (ctx: Ctx, systemId: string, type: DataType, initialize: boolean): Promise<Triggered & { batchId?: string }> {
  await pollTarget(ctx.systems, systemId, type)
  const batchId = randomUUID()
  return await inTransaction(ctx.pool, async tx => {
    await tx.query(
      `INSERT INTO hub.sync_batches (id, system_id, type, action, direction) VALUES ($1, $2, $3, 'poll', 'inbound')`, [batchId, systemId, type])
    const triggered = await queueRun(ctx, tx, { system: systemId, type, batchId, ...(initialize ? { initialize: true } : {}) })
    if (!triggered.started) throw Object.assign(new Error('poll running'), { triggered })
    return { ...triggered, batchId }
  }).catch(err => {
    if (err.triggered) return err.triggered as Triggered
    throw err
  })
}

/** When the schedule runs next (pg-boss evaluates cron in UTC). */
export const nextRun = (cron: string): string => CronExpressionParser.parse(cron, { tz: 'UTC' }).next().toISOString()!
