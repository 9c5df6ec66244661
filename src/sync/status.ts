import { z } from 'zod'
import type { Queryable } from '../db/queryable.ts'
import { timestamp } from '../http/schemas.ts'
import { INBOUND, OUTBOUND } from '../queue/queues.ts'
import type { SystemRegistry } from '../stores/systems.ts'

const MAX_LISTED = 20

const counts = z.object({ queued: z.number(), active: z.number(), completed: z.number(), skipped: z.number(), failed: z.number() })

/** GET /v1/sync/:batchId's answer. */
export const batchStatusSchema = z.object({
  batchId: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  system: z.string().nullable(),
  target: z.string().nullable(),
  scope: z.string().describe('`<type>/<action>`'),
  state: z.enum(['enqueuing', 'enqueued', 'aborted']).describe('of the upload: ids still being queued, all queued, or the upload broke off'),
  createdAt: timestamp,
  received: z.object({
    queued: z.number().describe("ids accepted, less those coalesced: the batch's own jobs, made or to be made"),
    coalesced: z.number().describe('ids found already waiting in a job of the same record when their job was made'),
    rejected: z.number().describe('ids rejected at upload'),
    stored: z.number().describe('ids accepted but not yet made into jobs (counted as queued): they become jobs as workers take the batch\'s earlier ones')
  }),
  counts: counts.describe("the batch's own jobs (fetches for inbound, deliveries for outbound) by state; ids not yet made into jobs count as queued"),
  deliveries: counts.optional().describe('inbound batches: the deliveries the fetched records fanned out to'),
  finished: z.boolean(),
  failures: z.array(z.object({
    jobId: z.string().nullable(),
    system: z.string(),
    externalId: z.string().nullable(),
    recordId: z.string().nullable(),
    message: z.string(),
    httpStatus: z.number().nullable()
  })).describe(`the first ${MAX_LISTED}`),
  skips: z.array(z.object({
    jobId: z.string(),
    id: z.string().describe("the id as the batch named it: the source's for inbound, the hub's (or the target's) for outbound"),
    reason: z.string()
  })).describe(`the first ${MAX_LISTED} of the batch's own jobs that were skipped (not found at the source, say), with why`),
  waitingOn: z.array(z.object({ system: z.string(), pending: z.number(), maxConcurrent: z.number(), perSecond: z.number().nullable() }))
    .describe('the systems the batch still has jobs for, and the throttle that paces them (why a big batch takes its time)'),
  debugJobs: z.array(z.string()).optional().describe('debug batches: the jobs whose traces GET /v1/jobs/:id returns')
})

export type Counts = z.infer<typeof counts>
export type BatchStatus = z.infer<typeof batchStatusSchema>

interface JobCount { name: string, system: string, state: string, outcome: string | null, retried: boolean, n: number }

const empty = (): Counts => ({ queued: 0, active: 0, completed: 0, skipped: 0, failed: 0 })

/** Where a batch stands, from its jobs (a job re-sent for a retry is counted once, as its latest attempt). */
export async function batchStatus (db: Queryable, systems: Pick<SystemRegistry, 'get'>, batchId: string): Promise<BatchStatus | undefined> {
  const { rows: [batch] } = await db.query(
    `SELECT id, direction, system_id, target_id, type, action, debug,
            to_json(created_at)#>>'{}' AS created_at, created_at AS since FROM hub.sync_batches WHERE id = $1`, [batchId])
  if (!batch) return undefined
  // Counting one batch's jobs by state has no pg-boss API (getQueueStats counts whole queues,
  // findJobs returns rows, at most 100,000), so this reads pg-boss's job table by name and
  // created_on, as pg-boss indexes it. The batch's counters are read in the same statement, so
  // in the same snapshot as its jobs: ids the expander moves from sync_items into jobs meanwhile
  // are counted once.
  const { rows: [now] } = await db.query<{ state: BatchStatus['state'], queued: number, coalesced: number, rejected: number, stored: number, jobs: JobCount[] }>(
    `SELECT state, queued, coalesced, rejected, items - expanded AS stored, (
       SELECT coalesce(json_agg(c), '[]') FROM (
         SELECT name, data->>'system' AS system, state::text AS state, output->>'outcome' AS outcome, coalesce(output ? 'retrying', false) AS retried, count(*)::int AS n
         FROM pgboss.job WHERE name = ANY($2) AND created_on >= $3 AND data->>'batchId' = $1::text
         GROUP BY 1, 2, 3, 4, 5) c) AS jobs
     FROM hub.sync_batches WHERE id = $1::uuid`, [batchId, [INBOUND, OUTBOUND], batch.since])
  const rows = now.jobs
  const byQueue: Record<string, Counts> = { [INBOUND]: empty(), [OUTBOUND]: empty() }
  const pendingBySystem = new Map<string, number>()
  for (const r of rows) {
    const c = byQueue[r.name]
    if (r.state === 'created' || r.state === 'retry' || r.state === 'active') pendingBySystem.set(r.system, (pendingBySystem.get(r.system) ?? 0) + r.n)
    if (r.state === 'created' || r.state === 'retry') c.queued += r.n
    else if (r.state === 'active') c.active += r.n
    else if (r.state === 'completed' && r.retried) continue
    else if (r.state === 'completed') c[r.outcome === 'skipped' ? 'skipped' : 'completed'] += r.n
    else c.failed += r.n
  }
  const own = batch.direction === 'inbound' ? byQueue[INBOUND] : byQueue[OUTBOUND]
  own.queued += now.stored
  const ownSystem = batch.direction === 'inbound' ? batch.system_id : batch.target_id
  if (now.stored) pendingBySystem.set(ownSystem, (pendingBySystem.get(ownSystem) ?? 0) + now.stored)
  const deliveries = batch.direction === 'inbound' ? byQueue[OUTBOUND] : undefined
  const { rows: failures } = await db.query(
    `SELECT job_id AS "jobId", system_id AS system, external_id AS "externalId", record_id AS "recordId", message, http_status AS "httpStatus"
     FROM hub.errors WHERE at >= $2 AND job_data->>'batchId' = $1 ORDER BY id LIMIT ${MAX_LISTED}`, [batchId, batch.since])
  // Skipped ids are not errors, but an operator asks which they were (a typo, a deleted record).
  const { rows: skips } = own.skipped === 0
    ? { rows: [] }
    : await db.query(
      `SELECT id::text AS "jobId", coalesce(data->>'id', data->>'recordId') AS id, output->>'reason' AS reason
       FROM pgboss.job WHERE name = $2 AND created_on >= $3 AND data->>'batchId' = $1::text AND state = 'completed' AND output->>'outcome' = 'skipped'
       ORDER BY created_on LIMIT ${MAX_LISTED}`, [batchId, batch.direction === 'inbound' ? INBOUND : OUTBOUND, batch.since])
  const busy = (c?: Counts) => c ? c.queued + c.active : 0
  const status: BatchStatus = {
    batchId,
    direction: batch.direction,
    system: batch.system_id,
    target: batch.target_id,
    scope: `${batch.type}/${batch.action}`,
    state: now.state,
    createdAt: batch.created_at,
    received: { queued: now.queued, coalesced: now.coalesced, rejected: now.rejected, stored: now.stored },
    counts: own,
    ...(deliveries ? { deliveries } : {}),
    finished: now.state !== 'enqueuing' && busy(own) + busy(deliveries) === 0,
    failures,
    skips,
    waitingOn: []
  }
  for (const [system, pending] of [...pendingBySystem].sort(([a], [b]) => a.localeCompare(b))) {
    const throttle = (await systems.get(system))?.throttle
    if (throttle) status.waitingOn.push({ system, pending, maxConcurrent: throttle.maxConcurrent, perSecond: throttle.perSecond ?? null })
  }
  if (batch.debug) {
    // Not findJobs(queue, { data: { batchId } }): without a time bound it reads the queue from
    // its oldest job; this starts where the batch did.
    const { rows: jobs } = await db.query<{ id: string }>(
      `SELECT id FROM pgboss.job WHERE name = $2 AND created_on >= $3 AND data->>'batchId' = $1 ORDER BY created_on LIMIT ${MAX_LISTED}`,
      [batchId, batch.direction === 'inbound' ? INBOUND : OUTBOUND, batch.since])
    status.debugJobs = jobs.map(j => j.id)
  }
  return status
}
