import { createHash } from 'node:crypto'
import stringify from 'safe-stable-stringify'
import type { Flow, ListEndpoint, Poll, SystemConfig } from '../config/systems.ts'
import { inTransaction } from '../db/pool.ts'
import type { Queryable } from '../db/queryable.ts'
import type { DataType } from '../models/index.ts'
import type { PipelineContext } from '../pipeline/context.ts'
import { PermanentError } from '../pipeline/failures.ts'
import { inboundRow, insertJobs } from '../pipeline/jobs.ts'
import { INBOUND } from '../queue/queues.ts'
import type { Action } from '../stores/systems.ts'
import { fetchPage } from './list.ts'
import type { Listed, Page } from './list.ts'
import { anyMissing, beginRun, diffPage, endRun, recordAudited, saveProgress, takeMissing } from './state.ts'
import type { Cursor, RunReport } from './state.ts'

export interface PollJob {
  system: string
  type: DataType
  /** Initialization: every record, no batch limit, from the start. */
  initialize?: boolean
  /** Manual sync or initialization: the batch its inbound jobs belong to. */
  batchId?: string
}

/** The poll flow of a system's type, with the listing it pages through; undefined when it has none. */
export function pollFlow (system: SystemConfig, type: DataType): { flow: Flow, poll: Poll, list: ListEndpoint } | undefined {
  const flow = system.flows.find(f => f.enabled && f.direction === 'inbound' && f.type === type && f.poll)
  const list = system.types[type]?.list
  return flow?.poll && list ? { flow, poll: flow.poll, list } : undefined
}

interface Run {
  ctx: PipelineContext
  system: SystemConfig
  job: PollJob
  flow: Flow
  poll: Poll
  list: ListEndpoint
  report: RunReport
  limit: number
  /** The worker is stopping: end after the page in hand. */
  stop?: AbortSignal
}

/** A run the worker's shutdown ended, between pages: what it queued is committed. */
export const STOPPED = 'stopped between pages: the worker was shutting down; the next run goes on from where this one got'

/** Between pages: end the run here if the worker is stopping. */
function checkStop (run: Run): void {
  if (run.stop?.aborted) throw new Error(STOPPED)
}

/**
 * One poll of one system's type (seed 004): list what changed and hand it to the inbound
 * pipeline, at most the batch limit per run. Each page's jobs commit in one transaction with the
 * run's progress (and in cursor mode the cursor), so a listing that fails part way loses nothing
 * and repeats nothing already queued. Called by the poll queue's handler, which pg-boss runs at
 * most once at a time per (system, type).
 */
export async function runPoll (ctx: PipelineContext, jobId: string, job: PollJob, stop?: AbortSignal): Promise<RunReport> {
  const system = await ctx.systems.get(job.system)
  const found = system && pollFlow(system, job.type)
  if (!system || !found) throw new PermanentError(`${job.system} has no enabled inbound ${job.type} flow with poll`)
  const report: RunReport = {
    mode: found.poll.mode, jobId, initialize: !!job.initialize, startedAt: new Date().toISOString(),
    pages: 0, seen: 0, enqueued: 0, deleted: 0, complete: false, cut: false
  }
  const state = await beginRun(ctx.pool, system.id, job.type, report)
  const run: Run = { ctx, system, job, ...found, report, limit: job.initialize ? Infinity : found.poll.batchLimit, stop }
  try {
    // An open circuit breaker holds polls too: the system is down.
    await ctx.breaker.admit(system)
    if (found.poll.mode === 'cursor') await cursorRun(run, job.initialize ? null : state.cursor)
    else await auditRun(run, state.runNo)
  } catch (err) {
    report.error = (err as Error).message
  }
  report.endedAt = new Date().toISOString()
  await endRun(ctx.pool, system.id, job.type, report)
  if (job.batchId) await endBatch(ctx.pool, job.batchId, report)
  return report
}

/**
 * Cursor mode: the source lists records with a modified token at or after `since`, sorted by
 * token and then id. The cursor is the (token, id) of the last record queued, so records that
 * share a token across a page boundary (or a batch limit) are neither lost nor taken twice. Each
 * page asks again from the last token queued (keyset paging): records changed during the listing
 * cannot shift a page under it. Only while a token fills whole pages does the page number move.
 */
async function cursorRun (run: Run, start: Cursor | null): Promise<void> {
  let cursor = start
  let since = cursor?.token
  let index = 0
  let next: string | undefined
  for (;;) {
    const page = await fetchPage(run.ctx, run.system, run.list, { since, index, next }, true)
    run.report.pages++
    const fresh = page.items.filter(item => !cursor || item.token !== cursor.token || compareIds(item.id, cursor.id) > 0)
    // Each page repeats the last record of the one before (keyset): count records, not listings.
    run.report.seen += fresh.length
    const take = fresh.slice(0, run.limit - run.report.enqueued)
    run.report.cut = take.length < fresh.length
    if (take.length) {
      const last = take[take.length - 1]
      cursor = { token: last.token!, id: last.id }
      await commitPage(run, take.map(item => ({ item, action: upsertAction(run.flow, false) })), db => saveProgress(db, run.system.id, run.job.type, run.report, cursor!))
    } else {
      await saveProgress(run.ctx.pool, run.system.id, run.job.type, run.report)
    }
    if (run.report.cut || !page.more) break
    checkStop(run)
    if (run.list.paging.kind === 'next') next = page.next
    else if (cursor?.token === since) index++
    else { since = cursor?.token; index = 0 }
  }
  run.report.complete = !run.report.cut
}

/**
 * Audit mode: the source cannot filter, so the whole listing is compared with the audit table a
 * page at a time (memory holds one page): new and changed records are queued. Records missing
 * from a complete listing are deletes; a listing that fails or stops at the batch limit deletes
 * nothing.
 */
async function auditRun (run: Run, runNo: number): Promise<void> {
  const { ctx, system, job, report } = run
  let index = 0
  let next: string | undefined
  for (;;) {
    const page: Page = await fetchPage(ctx, system, run.list, { index, next }, false)
    report.pages++
    report.seen += page.items.length
    // A source may list one record twice; the last listing of it counts.
    const byId = new Map(page.items.map(item => [item.id, item]))
    const ids = [...byId.keys()]
    const hashes = ids.map(id => hashOf(byId.get(id)!.record))
    const changed = await diffPage(ctx.pool, system.id, job.type, runNo, ids, hashes, !!job.initialize)
    const take = changed.slice(0, run.limit - report.enqueued)
    report.cut = take.length < changed.length
    await commitPage(run, take.map(c => ({ item: byId.get(c.id)!, action: upsertAction(run.flow, c.isNew) })),
      async db => {
        await recordAudited(db, system.id, job.type, runNo, take.map(c => c.id), take.map(c => c.hash))
        await saveProgress(db, system.id, job.type, report)
      })
    if (report.cut) return
    if (!page.more) break
    checkStop(run)
    if (run.list.paging.kind === 'next') next = page.next
    else index++
  }
  report.complete = true
  const deletes = run.flow.actions.includes('delete')
  for (;;) {
    const room = Math.min(1_000, run.limit - report.enqueued - report.deleted)
    // At the limit the run is cut only if deletes are left for the next one.
    if (room <= 0) { report.cut = await anyMissing(ctx.pool, system.id, job.type, runNo); return }
    const done = await inTransaction(ctx.pool, async tx => {
      const missing = await takeMissing(tx, system.id, job.type, runNo, room)
      // A flow without the delete action hears of no deletes; the records are simply no longer audited.
      if (deletes && missing.length) {
        await insertJobs(ctx.boss, INBOUND, missing.map(id => inboundRow({ system: system.id, type: job.type, action: 'delete', id, ...batchOf(job) }, system)), tx)
        report.deleted += missing.length
      }
      await saveProgress(tx, system.id, job.type, report)
      return missing.length < room
    })
    if (done) return
  }
}

/** A new record is a create where the flow takes creates; anything else an update where it takes those. */
function upsertAction (flow: Flow, isNew: boolean): Action {
  const preferred = isNew ? 'create' : 'update'
  return flow.actions.includes(preferred) ? preferred : preferred === 'create' ? 'update' : 'create'
}

const batchOf = (job: PollJob) => job.batchId ? { batchId: job.batchId } : {}

/**
 * Queue one page's changes through the same inbound path as webhooks (coalescing, content hash,
 * fan-out, history), together with `alsoIn` (progress, cursor, audit rows) in one transaction.
 */
async function commitPage (run: Run, changes: Array<{ item: Listed, action: Action }>, alsoIn: (db: Queryable) => Promise<void>): Promise<void> {
  const { ctx, system, job, poll, report } = run
  if (!changes.length) return await alsoIn(ctx.pool)
  await inTransaction(ctx.pool, async tx => {
    const rows = changes.map(({ item, action }) => inboundRow({
      system: system.id, type: job.type, action, id: item.id, ...batchOf(job), ...(poll.fullRecords ? { record: item.record } : {})
    }, system))
    const inserted = await insertJobs(ctx.boss, INBOUND, rows, tx)
    // A job for the record still waiting swallowed this one (coalescing): it carries an older
    // listing, so hand it this one.
    const coalesced = rows.filter(r => !inserted.has(r.id!))
    if (poll.fullRecords && coalesced.length) {
      await tx.query(
        `UPDATE pgboss.job j SET data = jsonb_set(j.data, '{record}', u.record) FROM unnest($2::text[], $3::jsonb[]) AS u(key, record)
         WHERE j.name = $1 AND j.singleton_key = u.key AND j.state < 'active'`,
        [INBOUND, coalesced.map(r => r.singletonKey), coalesced.map(r => JSON.stringify((r.data as { record: unknown }).record))])
    }
    report.enqueued += changes.length
    if (job.batchId) await tx.query('UPDATE hub.sync_batches SET queued = queued + $2, coalesced = coalesced + $3 WHERE id = $1', [job.batchId, inserted.size, coalesced.length])
    await alsoIn(tx)
  })
}

async function endBatch (db: Queryable, batchId: string, report: RunReport): Promise<void> {
  await db.query(`UPDATE hub.sync_batches SET state = $2, enqueued_at = now() WHERE id = $1`, [batchId, report.error ? 'aborted' : 'enqueued'])
}

/** Ids compared as the source sorts them: numerically when both are integers, else by code point. */
export function compareIds (a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const d = BigInt(a) - BigInt(b)
    return d > 0n ? 1 : d < 0n ? -1 : 0
  }
  return a < b ? -1 : a > b ? 1 : 0
}

const hashOf = (record: unknown) => createHash('sha256').update(stringify(record) ?? '').digest('base64url')
