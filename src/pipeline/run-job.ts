import type { JobInsert, JobResult, JobWithMetadata } from 'pg-boss'
import { defaultRetry } from '../config/systems.ts'
import type { SystemConfig } from '../config/systems.ts'
import { BreakerOpen } from '../connectors/breaker.ts'
import type { Pass, Verdict } from '../connectors/breaker.ts'
import type { Queryable } from '../db/queryable.ts'
import type { HistoryEntry } from '../stores/history.ts'
import { logError, resolveError } from '../stores/error-log.ts'
import { externalIdOf } from '../stores/records.ts'
import { countJob } from '../metrics.ts'
import { redactDeep } from '../redact.ts'
import { Trace } from '../trace.ts'
import type { PipelineContext } from './context.ts'
import { backoffMs, breakerVerdict, classify, retryDelayMs } from './failures.ts'
import { insertJobs } from './jobs.ts'
import type { InboundJob, OutboundJob } from './jobs.ts'
import { INBOUND, OUTBOUND, tierLimit } from '../queue/queues.ts'

type PipelineJob = InboundJob | OutboundJob

/** What a handler learns about the job it runs. */
export interface JobRun<T extends PipelineJob> {
  id: string
  data: T
  /** Present when the job is flagged debug. */
  trace?: Trace
  /**
   * The same for every run of this work: pg-boss reruns a lost job under its own id, and a
   * re-sent job carries the first one's id.
   */
  deliveryId: string
  /** An earlier run of this work may have got as far as sending it (a retry or a lost job). */
  rerun: boolean
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

/** What the runner knows of a job it runs: fetched from pg-boss, or claimed where it was inserted. */
export type RunnableJob<T> = Pick<JobWithMetadata<T>, 'id' | 'data' | 'priority' | 'retryCount' | 'createdOn' | 'singletonKey' | 'groupId' | 'groupTier'>

/**
 * Run one job and say how it ended. Transient failures are re-sent as a new job after a backoff
 * (honouring Retry-After) until the system's retry.attempts; permanent ones, and the last
 * attempt, go to the error log and the dead letter. While the system's circuit breaker is open
 * its jobs are held: re-sent without spending an attempt. The output is redacted: GET
 * /v1/jobs/:id shows it, and its messages can quote a system's secrets.
 */
export async function runJob<T extends PipelineJob> (ctx: PipelineContext, spec: JobSpec<T>, job: RunnableJob<T>): Promise<JobResult> {
  return redactDeep(await runOne(ctx, spec, job))
}

async function runOne<T extends PipelineJob> (ctx: PipelineContext, spec: JobSpec<T>, job: RunnableJob<T>): Promise<JobResult> {
  const trace = job.data.debug ? new Trace() : undefined
  const deliveryId = job.data.delivery ?? job.id
  const run = { id: job.id, data: job.data, trace, deliveryId, rerun: deliveryId !== job.id || job.retryCount > 0 }
  // pace() runs before every call to the system: counting it tells whether the job made one.
  let calls = 0
  const jobCtx: PipelineContext = { ...ctx, pace: system => { calls++; return ctx.pace(system) } }
  let system: SystemConfig | undefined
  let pass: Pass | undefined
  try {
    const wait = job.createdOn.getTime() + (spec.minAgeMs?.(job.data) ?? 0) - Date.now()
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    system = await ctx.systems.get(job.data.system)
    // A debug job is someone checking the system by hand: it goes through an open breaker.
    if (system && !job.data.debug) pass = await ctx.breaker.admit(system)
    // The job's group tier carries its system's maxConcurrent. A debug job does not queue for a
    // slot behind the jobs it jumped: it is one extra call at most.
    const output = job.data.debug
      ? await spec.handle(jobCtx, run)
      : await ctx.withSlot(job.data.system, tierLimit(job.groupTier), () => spec.handle(jobCtx, run))
    // The work is done: a breaker write the database refuses now must not undo it.
    if (system) await settleBreaker(ctx, system, pass, calls ? 'up' : 'none').catch(err => ctx.log.warn({ err, system: system!.id }, 'circuit breaker not updated'))
    countJob(spec.queue, job.data.system, 'completed')
    if (job.data.replayOf) await resolveError(ctx.pool, job.data.replayOf).catch(err => ctx.log.warn({ err, error: job.data.replayOf }, 'replayed error not marked resolved'))
    return { id: job.id, status: 'completed', output }
  } catch (err) {
    // Its message goes to the error log, history, the breaker, the output: none may quote a secret.
    const failure = redactDeep(classify(err))
    const policy = system?.retry ?? defaultRetry
    const attempt = (job.data.attempt ?? 0) + job.retryCount
    const scope = `${job.data.type}/${job.data.action}`
    const { recordId, externalId } = spec.ids(job.data)
    const history = { recordId, externalId, type: job.data.type, systemId: job.data.system, direction: spec.direction, action: job.data.action, jobId: job.id }
    if (err instanceof BreakerOpen) return await hold(ctx, spec.queue, job, system!, err.message, err.waitMs, history, trace)
    const breaker = system ? await settleBreaker(ctx, system, pass, breakerVerdict(err), failure.message) : undefined
    // Failing while the breaker is open (this job opened it, or was its probe) spends no attempt.
    if (failure.transient && breaker?.open) return await hold(ctx, spec.queue, job, system!, `${failure.message}; circuit breaker open`, 0, history, trace)
    if (failure.transient && attempt + 1 < policy.attempts) {
      const delay = retryDelayMs(policy, attempt, failure.retryAfterMs)
      await resend(ctx, spec.queue, job, { ...job.data, delivery: deliveryId, attempt: attempt + 1, holds: undefined }, delay)
      await ctx.history({ ...history, outcome: 'retrying', reason: `${failure.message} (attempt ${attempt + 1} of ${policy.attempts}, next in ${Math.round(delay / 1000)} s)` })
      trace?.add('retry', { error: failure.message, delayMs: delay })
      countJob(spec.queue, job.data.system, 'retried')
      return { id: job.id, status: 'completed', output: { retrying: true, error: failure.message, delayMs: delay } }
    }
    // The record's id in the system it failed at, when it has one there (a failed update), so
    // the error log and the log line name it as that system knows it.
    const known = history.externalId ?? (recordId ? await externalIdOf(ctx.pool, job.data.system, job.data.type, recordId).catch(() => undefined) : undefined)
    ctx.log.warn({ jobId: job.id, queue: spec.queue, scope, system: job.data.system, recordId, externalId: known, error: failure.message }, 'job failed')
    await logError(ctx.pool, { ...history, externalId: known, scope, message: failure.message, httpStatus: failure.status, queue: spec.queue, jobData: job.data }, job.data.replayOf)
    await ctx.history({ ...history, outcome: 'failed', reason: failure.message })
    trace?.add('failed', { error: failure.message, status: failure.status })
    countJob(spec.queue, job.data.system, 'failed')
    return { id: job.id, status: 'deadletter', output: { error: failure.message, status: failure.status ?? null } }
  } finally {
    if (trace) {
      await saveTrace(ctx.pool, job.id, spec.queue, trace)
      // A debug job is logged whatever LOG_LEVEL is; the steps are already redacted.
      ctx.log.child({ jobId: job.id, queue: spec.queue }, { level: 'info' }).info({ steps: trace.steps }, 'debug trace')
    }
  }
}

/**
 * Defer a job of a system whose breaker is open: until the next probe may go, and longer each
 * time in a row (probeAfterMs doubling up to retry.maxDelayMs), so a long outage does not churn
 * the queue. Held jobs are woken at once when the breaker closes.
 */
async function hold (ctx: PipelineContext, queue: string, job: RunnableJob<PipelineJob>, system: SystemConfig, reason: string, waitMs: number, history: Omit<HistoryEntry, 'outcome'>, trace?: Trace): Promise<JobResult> {
  const holds = job.data.holds ?? 0
  const delay = Math.max(waitMs, backoffMs(system.breaker.probeAfterMs, holds, Math.max(system.breaker.probeAfterMs, system.retry.maxDelayMs)))
  await resend(ctx, queue, job, { ...job.data, delivery: job.data.delivery ?? job.id, holds: holds + 1 }, delay)
  await ctx.history({ ...history, outcome: 'held', reason: `${reason}: held without spending an attempt, next check in ${Math.round(delay / 1000)} s` })
  trace?.add('held', { reason, delayMs: delay })
  countJob(queue, job.data.system, 'held')
  return { id: job.id, status: 'completed', output: { retrying: true, held: true, error: reason, delayMs: delay } }
}

async function settleBreaker (ctx: PipelineContext, system: SystemConfig, pass: Pass | undefined, verdict: Verdict, error?: string) {
  const result = await ctx.breaker.record(system, pass, verdict, error)
  if (result.closed) await wakeHeld(ctx.pool, system.id)
  return result
}

/** Make a system's held jobs due now (they wait for their next check otherwise). */
async function wakeHeld (db: Queryable, systemId: string): Promise<void> {
  await db.query(
    `UPDATE pgboss.job SET start_after = now()
     WHERE name = ANY($2) AND state = 'created' AND group_id = $1 AND start_after > now() AND data ? 'holds'`,
    [systemId, [INBOUND, OUTBOUND]])
}

/** The same work as a new job, due after `delayMs`, keeping its priority, key and group. */
async function resend (ctx: PipelineContext, queue: string, job: RunnableJob<PipelineJob>, data: PipelineJob, delayMs: number): Promise<void> {
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
