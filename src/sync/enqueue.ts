import { randomUUID } from 'node:crypto'
import type { PipelineContext } from '../pipeline/context.ts'
import { isDatabaseUnavailable } from '../db/errors.ts'
import type { Queryable } from '../db/queryable.ts'
import { withFirst } from '../db/one-trip.ts'
import type { JobInsert } from 'pg-boss'
import { MAX_ID, textProblem } from '../models/text.ts'
import { insertJobs } from '../pipeline/jobs.ts'
import { MAX_WAITING } from '../queue/queues.ts'
import { parseScope } from '../pipeline/scope.ts'
import { triggerBatch } from '../poll/trigger.ts'
import { conflict } from '../errors.ts'
import { inboundScopes, unfetchable } from '../stores/systems.ts'
import { dropLateRejections, jobsFor, storeChunk } from './items.ts'
import type { Accepted, Item, LateRejection } from './items.ts'
import type { SyncPlan } from './plan.ts'

/** A line of ids; `problem`, when its reader refuses it already (a CSV line with cells past its header). */
export interface Line { line: number, id: string, scope?: string, problem?: string }
export interface Rejection { line: number, id: string, reason: string }
/**
 * `queued`: ids accepted, less `coalesced`: those found already waiting in a job of the same
 * record when their job was inserted. Ids beyond the batch's first MAX_WAITING become jobs later
 * (src/sync/expand.ts), and any of them coalesced then is counted in GET /v1/sync/:id.
 */
export interface BatchReceipt { batchId: string, queued: number, coalesced: number, rejected: Rejection[], rejectedCount: number }

type Queues = Pick<PipelineContext, 'pool' | 'boss'>

// Ids a round trip: an upload costs a few hundred statements per million ids.
const CHUNK = 5_000
// The answer lists this many rejections; the count covers them all.
const MAX_LISTED = 1_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Store a stream of ids (lines, arriving a batch at a time) as one batch, a chunk at a time, so
 * any number of ids fits in bounded memory. Blank, over-long, unstorable, duplicate and
 * unresolvable ids are rejected with their line; the rest proceed. The first `maxWaiting` accepted ids (every one, for a debug batch:
 * small, and wanted now) become jobs at once; the others are stored, and the expander turns them
 * into jobs as workers take the first.
 */
export async function enqueueBatch (ctx: Queues, plan: SyncPlan, lines: AsyncIterable<Line[]> | Iterable<Line[]>, opts: { maxWaiting?: number } = {}): Promise<BatchReceipt> {
  if (plan.poll) return await pollBatch(ctx, plan)
  const maxWaiting = plan.debug ? Infinity : opts.maxWaiting ?? MAX_WAITING
  const batchId = randomUUID()
  const receipt: BatchReceipt = { batchId, queued: 0, coalesced: 0, rejected: [], rejectedCount: 0 }
  const jobPlan = { ...plan, systemId: plan.system?.id ?? '', targetId: plan.target?.id }
  let expanded = 0
  let stored = 0
  let chunks = 0
  // Lines read while ids still become jobs at once, by id: their duplicates are found here.
  // Later ids are stored as they come, and their duplicates found once all are stored
  // (dropLateRejections), so this holds at most maxWaiting ids and a chunk.
  const early = new Map<string, number>()
  // The chunk being read, and the rejections among its lines: a chunk covers consecutive lines,
  // so listing its rejections in line order when it is stored keeps the list in line order.
  let chunk: Item[] = []
  let rejections: Rejection[] = []
  const reject = (line: Line, reason: string) => rejections.push({ line: line.line, id: line.id, reason })
  const list = (r: Rejection) => {
    receipt.rejectedCount++
    if (receipt.rejected.length < MAX_LISTED) receipt.rejected.push(r)
  }
  // One transaction for the whole batch: a request that ends in an error (a broken CSV line, a
  // client gone mid-upload) queues nothing, so any 4xx means "nothing happened, send it again".
  // Jobs are visible to workers from the commit on.
  const writer = await ctx.pool.connect()
  // A debug batch sent whole (JSON) is wanted now: its row and its jobs go in one query that
  // commits them, one round trip where a transaction takes four (under load each waits its turn
  // behind the workers' writes: p99 46-80 ms to the job's start, 30-75 ms in one trip). Its jobs
  // are never coalesced (each has a key of its own), so its counts are known before the insert.
  const oneTrip = plan.debug && !(Symbol.asyncIterator in lines)
  let pending: { queue: string, rows: JobInsert[] } | undefined

  // The batch as it stands. A stream of ids (a CSV) is recorded before it is read, so the batch
  // is seen receiving ids while they arrive; ids read whole (JSON) are recorded once, with their
  // jobs.
  const batchRow = (state: 'enqueuing' | 'enqueued' | 'aborted') => ({
    text: `INSERT INTO hub.sync_batches (id, system_id, target_id, type, action, direction, debug, max_waiting, state, enqueued_at, queued, coalesced, rejected, items, expanded)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text, CASE WHEN $9::text = 'enqueued' THEN now() END, $10, $11, $12, $13, $14)
     ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, enqueued_at = EXCLUDED.enqueued_at, queued = EXCLUDED.queued,
       coalesced = EXCLUDED.coalesced, rejected = EXCLUDED.rejected, items = EXCLUDED.items, expanded = EXCLUDED.expanded`,
    values: [batchId, plan.system?.id ?? null, plan.target?.id ?? null, plan.type, plan.action, plan.direction, plan.debug, opts.maxWaiting ?? MAX_WAITING,
      state, receipt.queued, receipt.coalesced, receipt.rejectedCount, expanded + stored, expanded]
  })
  const record = (db: Queryable, state: 'enqueuing' | 'enqueued' | 'aborted') => db.query(batchRow(state))

  const flush = async () => {
    const items = chunk
    chunk = []
    const recordIds = plan.direction === 'outbound' && items.length ? await resolve(writer, plan, items.map(i => i.id)) : undefined
    const now: Accepted[] = []
    const later: Item[] = []
    for (let i = 0; i < items.length; i++) {
      const item = items[i]
      if (recordIds && !recordIds.has(item.id) && early.has(item.id)) {
        reject(item, plan.system ? `no hub ${plan.type} is linked to ${plan.system.id} ${item.id}` : `no hub ${plan.type} with id ${item.id}`)
      } else if (expanded + now.length < maxWaiting && early.has(item.id)) {
        now.push({ ...item, ...(recordIds ? { recordId: recordIds.get(item.id) } : {}) })
      } else {
        later.push(item)
      }
    }
    rejections.sort((a, b) => a.line - b.line).forEach(list)
    rejections = []
    if (now.length) {
      const jobs = jobsFor(jobPlan, batchId, now)
      expanded += now.length
      if (oneTrip) {
        (pending ??= { queue: jobs.queue, rows: [] }).rows.push(...jobs.rows)
        receipt.queued += now.length
      } else {
        const inserted = await insertJobs(ctx.boss, jobs.queue, jobs.rows, writer)
        receipt.queued += inserted.size
        receipt.coalesced += jobs.rows.length - inserted.size
      }
    }
    if (later.length) {
      await storeChunk(writer, batchId, chunks++, later, recordIds)
      stored += later.length
    }
  }

  let broken: unknown
  try {
    if (Symbol.asyncIterator in lines) await record(ctx.pool, 'enqueuing')
    if (!oneTrip) await writer.query('BEGIN')
    for await (const batch of lines) for (let i = 0; i < batch.length; i++) {
      const line = batch[i]
      if (line.problem) { reject(line, line.problem); continue }
      const id = line.id.trim()
      const problem = id ? textProblem(id, MAX_ID) : 'blank id'
      if (problem) { reject(line, problem === 'blank id' ? problem : `id ${problem}`); continue }
      const first = early.get(id)
      if (first !== undefined) { reject(line, `duplicate of line ${first}`); continue }
      let action = plan.action
      if (line.scope) {
        const scope = parseScope(line.scope.trim())
        if (!scope || scope.type !== plan.type || scope.action === 'poll') { reject(line, `scope '${line.scope}' is not ${plan.type}/<create|update|delete>`); continue }
        if (plan.direction === 'inbound' && !inboundScopes(plan.system!).includes(`${scope.type}/${scope.action}`)) {
          reject(line, unfetchable(plan.system!, scope.type, scope.action) ?? `${plan.system!.id} has no inbound flow for ${line.scope}`); continue
        }
        action = scope.action
      }
      if (expanded + early.size < maxWaiting + CHUNK) early.set(id, line.line)
      chunk.push({ line: line.line, id, action })
      if (chunk.length >= CHUNK) await flush()
    }
    await flush()
    if (stored) {
      const late = await dropLateRejections(writer, batchId, plan.direction === 'outbound', MAX_LISTED)
      stored -= late.count
      receipt.rejectedCount += late.count
      const reason = (r: LateRejection) => !r.unresolved
        ? `duplicate of line ${r.first}`
        : plan.system ? `no hub ${plan.type} is linked to ${plan.system.id} ${r.id}` : `no hub ${plan.type} with id ${r.id}`
      receipt.rejected = [...receipt.rejected, ...late.first.map(r => ({ line: r.line, id: r.id, reason: reason(r) }))]
        .sort((a, b) => a.line - b.line).slice(0, MAX_LISTED)
    }
    receipt.queued += stored
    if (pending) await insertJobs(ctx.boss, pending.queue, pending.rows, withFirst(writer, batchRow('enqueued')))
    else await record(writer, 'enqueued')
    if (!oneTrip) await writer.query('COMMIT')
  } catch (err) {
    broken = err
    await writer.query('ROLLBACK').catch(() => {})
    receipt.queued = 0
    receipt.coalesced = 0
    expanded = 0
    stored = 0
    await record(ctx.pool, 'aborted').catch(() => {})
    throw Object.assign(err as Error, { batch: receipt })
  } finally {
    // A client whose connection broke is not given back to the pool.
    writer.release(broken !== undefined && isDatabaseUnavailable(broken))
  }
  return receipt
}

/** `<type>/poll`: the poll runs now as this batch; the ids sent with it are not used. */
async function pollBatch (ctx: Queues, plan: SyncPlan): Promise<BatchReceipt> {
  const run = await triggerBatch({ ...ctx, systems: { get: async () => plan.system } }, plan.system!.id, plan.type, false)
  if (!run.batchId) throw conflict(`a poll of ${plan.system!.id} ${plan.type} is already queued or running`, { running: true, progress: run.progress })
  return { batchId: run.batchId, queued: 0, coalesced: 0, rejected: [], rejectedCount: 0 }
}

/** Outbound ids are hub record ids, or (with a system) that system's external ids, resolved through the links. */
async function resolve (db: Queryable, plan: SyncPlan, ids: string[]): Promise<Map<string, string>> {
  const { rows } = plan.system
    ? await db.query<{ key: string, record_id: string }>(
      'SELECT external_id AS key, record_id FROM hub.links WHERE system_id = $1 AND type = $2 AND external_id = ANY($3)', [plan.system.id, plan.type, ids])
    : await db.query<{ key: string, record_id: string }>(
      'SELECT id::text AS key, id AS record_id FROM hub.records WHERE type = $1 AND id = ANY($2::uuid[])', [plan.type, ids.filter(id => UUID.test(id))])
  return new Map(rows.map(r => [r.key, r.record_id]))
}
