import type { JobInsert, JobResult, JobWithMetadata } from 'pg-boss'
import type { Queryable } from '../db/queryable.ts'
import { addHistory } from '../stores/history.ts'
import { logError } from '../stores/error-log.ts'
import { Trace } from '../trace.ts'
import type { PipelineContext } from './context.ts'
import { classify, MAX_ATTEMPTS, retryDelayMs } from './failures.ts'
import { insertJobs } from './jobs.ts'
import type { InboundJob, OutboundJob } from './jobs.ts'
import { tierLimit } from '../queue/queues.ts'

type PipelineJob = InboundJob | OutboundJob

/** What a handler learns about the job it runs. */
export interface JobRun<T extends PipelineJob> {
  id: string
  data: T
  /** Present when the job is flagged debug. */
  trace?: Trace
}

export interface JobSpec<T extends PipelineJob> {
  queue: string
  direction: 'inbound' | 'outbound'
  handle (ctx: PipelineContext, run: JobRun<T>): Promise<object>
  /** How old a job must be before it runs (waited for before taking a concurrency slot). */
  minAgeMs?: (data: T) => number
  /** The record id and external id a failure is logged against. */
  ids (data: T): { recordId?: string, externalId?: string }
}

/**
 * A pg-boss batch handler that runs each job of the batch concurrently and settles each on its
 * own. Transient failures are re-sent as a new job after a backoff (honouring Retry-After) until
 * MAX_ATTEMPTS; permanent ones, and the last attempt, go to the error log and the dead letter.
 */
export function batchHandler<T extends PipelineJob> (ctx: PipelineContext, spec: JobSpec<T>) {
  return async (jobs: JobWithMetadata<T>[]): Promise<JobResult[]> => {
    return await Promise.all(jobs.map(job => runOne(ctx, spec, job)))
  }
}

async function runOne<T extends PipelineJob> (ctx: PipelineContext, spec: JobSpec<T>, job: JobWithMetadata<T>): Promise<JobResult> {
  const trace = job.data.debug ? new Trace() : undefined
  const run = { id: job.id, data: job.data, trace }
  try {
    const wait = job.createdOn.getTime() + (spec.minAgeMs?.(job.data) ?? 0) - Date.now()
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    // The job's group tier carries its system's maxConcurrent. A debug job does not queue for a
    // slot behind the jobs it jumped: it is one extra call at most.
    const output = job.data.debug
      ? await spec.handle(ctx, run)
      : await ctx.withSlot(job.data.system, tierLimit(job.groupTier), job.id, Math.max(60, job.expireInSeconds), () => spec.handle(ctx, run))
    return { id: job.id, status: 'completed', output }
  } catch (err) {
    const failure = classify(err)
    const attempt = (job.data.attempt ?? 0) + job.retryCount
    const scope = `${job.data.type}/${job.data.action}`
    const { recordId, externalId } = spec.ids(job.data)
    const history = { recordId, externalId, type: job.data.type, systemId: job.data.system, direction: spec.direction, action: job.data.action, jobId: job.id }
    if (failure.transient && attempt + 1 < MAX_ATTEMPTS) {
      const delay = retryDelayMs(attempt, failure.retryAfterMs)
      await resend(ctx, spec.queue, job, { ...job.data, attempt: attempt + 1 }, delay)
      await addHistory(ctx.pool, { ...history, outcome: 'retrying', reason: `${failure.message} (attempt ${attempt + 1} of ${MAX_ATTEMPTS}, next in ${Math.round(delay / 1000)} s)` })
      trace?.add('retry', { error: failure.message, delayMs: delay })
      return { id: job.id, status: 'completed', output: { retrying: true, error: failure.message, delayMs: delay } }
    }
    ctx.log.warn({ jobId: job.id, queue: spec.queue, scope, system: job.data.system, error: failure.message }, 'job failed')
    await logError(ctx.pool, { ...history, scope, message: failure.message, httpStatus: failure.status, queue: spec.queue, jobData: job.data })
    await addHistory(ctx.pool, { ...history, outcome: 'failed', reason: failure.message })
    trace?.add('failed', { error: failure.message, status: failure.status })
    return { id: job.id, status: 'deadletter', output: { error: failure.message, status: failure.status ?? null } }
  } finally {
    if (trace) {
      await saveTrace(ctx.pool, job.id, spec.queue, trace)
      // A debug job is logged whatever LOG_LEVEL is; the steps are already redacted.
      ctx.log.child({ jobId: job.id, queue: spec.queue }, { level: 'info' }).info({ steps: trace.steps }, 'debug trace')
    }
  }
}

/** The same work as a new job, due after `delayMs`, keeping its priority, key and group. */
async function resend (ctx: PipelineContext, queue: string, job: JobWithMetadata<PipelineJob>, data: PipelineJob, delayMs: number): Promise<void> {
  const row: JobInsert = {
    data,
    priority: job.priority,
    startAfter: new Date(Date.now() + delayMs),
    singletonKey: job.singletonKey ?? undefined,
    group: job.groupId ? { id: job.groupId, tier: job.groupTier ?? undefined } : undefined
  }
  await insertJobs(ctx.boss, queue, [row], ctx.pool)
}

async function saveTrace (db: Queryable, jobId: string, queue: string, trace: Trace): Promise<void> {
  await db.query(
    'INSERT INTO hub.traces (job_id, queue, steps) VALUES ($1, $2, $3) ON CONFLICT (job_id) DO UPDATE SET steps = excluded.steps',
    [jobId, queue, JSON.stringify(trace.steps)])
}
