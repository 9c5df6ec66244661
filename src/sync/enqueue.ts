import { randomUUID } from 'node:crypto'
import type { PipelineContext } from '../pipeline/context.ts'
import { isDatabaseUnavailable } from '../db/errors.ts'
import type { Queryable } from '../db/queryable.ts'
import { MAX_ID, textProblem } from '../models/text.ts'
import { insertJobs } from '../pipeline/jobs.ts'
import { parseScope } from '../pipeline/scope.ts'
import { triggerBatch } from '../poll/trigger.ts'
import { conflict } from '../errors.ts'
import { inboundScopes } from '../stores/systems.ts'
import { dropItemsThrough, jobsFor, MAX_WAITING, storeItems } from './items.ts'
import type { Accepted, Item } from './items.ts'
import type { SyncPlan } from './plan.ts'

export interface Line { line: number, id: string, scope?: string }
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
 * Store a stream of ids as one batch, a chunk at a time, so any number of ids fits in bounded
 * memory (duplicates are found by the table's unique key, not by ids kept here). Blank,
 * over-long, unstorable, duplicate and unresolvable ids are rejected with their line; the rest
 * proceed. The first `maxWaiting` (every one, for a debug batch: small, and wanted now) become
 * jobs at once; the expander turns the others into jobs as workers take the first.
 */
export async function enqueueBatch (ctx: Queues, plan: SyncPlan, lines: AsyncIterable<Line> | Iterable<Line>, opts: { maxWaiting?: number } = {}): Promise<BatchReceipt> {
  if (plan.poll) return await pollBatch(ctx, plan)
  const maxWaiting = opts.maxWaiting ?? MAX_WAITING
  const batchId = randomUUID()
  await ctx.pool.query(
    `INSERT INTO hub.sync_batches (id, system_id, target_id, type, action, direction, debug, max_waiting) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [batchId, plan.system?.id ?? null, plan.target?.id ?? null, plan.type, plan.action, plan.direction, plan.debug, maxWaiting])
  const receipt: BatchReceipt = { batchId, queued: 0, coalesced: 0, rejected: [], rejectedCount: 0 }
  const jobPlan = { ...plan, systemId: plan.system?.id ?? '', targetId: plan.target?.id }
  let accepted = 0
  let expanded = 0
  let expandedThrough = 0
  // The chunk being read: its ids (each id once), and its lines rejected so far. A chunk covers
  // consecutive lines, and its rejections are listed in line order when it is stored.
  let chunk: Item[] = []
  let chunkLines = new Map<string, number>()
  let rejections: Rejection[] = []
  const reject = (line: Line, reason: string) => rejections.push({ line: line.line, id: line.id, reason })
  // One transaction for the whole batch: a request that ends in an error (a broken CSV line, a
  // client gone mid-upload) queues nothing, so any 4xx means "nothing happened, send it again".
  // Jobs are visible to workers from the commit on.
  const writer = await ctx.pool.connect()

  const finish = (db: Queryable, state: 'enqueued' | 'aborted') => db.query(
    `UPDATE hub.sync_batches SET state = $2, enqueued_at = CASE WHEN $2 = 'enqueued' THEN now() END,
       queued = $3, coalesced = $4, rejected = $5, items = $6, expanded = $7 WHERE id = $1`,
    [batchId, state, receipt.queued, receipt.coalesced, receipt.rejectedCount, accepted, expanded])

  const flush = async () => {
    const items = chunk
    chunk = []
    chunkLines = new Map()
    if (!items.length && !rejections.length) return
    const recordIds = plan.direction === 'outbound' ? await resolve(writer, plan, items.map(i => i.id)) : undefined
    const { stored, firstLine } = await storeItems(writer, batchId, items, recordIds)
    const fresh: Accepted[] = []
    for (const item of items) {
      const line = { line: item.line, id: item.id }
      if (!stored.has(item.line)) reject(line, `duplicate of line ${firstLine.get(item.id)}`)
      else if (!recordIds) fresh.push(item)
      else if (recordIds.has(item.id)) fresh.push({ ...item, recordId: recordIds.get(item.id) })
      else reject(line, plan.system ? `no hub ${plan.type} is linked to ${plan.system.id} ${item.id}` : `no hub ${plan.type} with id ${item.id}`)
    }
    for (const r of rejections.sort((a, b) => a.line - b.line)) {
      receipt.rejectedCount++
      if (receipt.rejected.length < MAX_LISTED) receipt.rejected.push(r)
    }
    rejections = []
    accepted += fresh.length
    receipt.queued += fresh.length
    const now = plan.debug ? fresh : fresh.slice(0, Math.max(0, maxWaiting - expanded))
    if (!now.length) return
    const { queue, rows } = jobsFor(jobPlan, batchId, now)
    const inserted = await insertJobs(ctx.boss, queue, rows, writer)
    receipt.queued -= rows.length - inserted.size
    receipt.coalesced += rows.length - inserted.size
    expanded += now.length
    expandedThrough = now[now.length - 1].line
  }

  let broken: unknown
  try {
    await writer.query('BEGIN')
    for await (const line of lines) {
      const id = line.id.trim()
      const problem = id ? textProblem(id, MAX_ID) : 'blank id'
      if (problem) { reject(line, problem === 'blank id' ? problem : `id ${problem}`); continue }
      const first = chunkLines.get(id)
      if (first !== undefined) { reject(line, `duplicate of line ${first}`); continue }
      let action = plan.action
      if (line.scope) {
        const scope = parseScope(line.scope.trim())
        if (!scope || scope.type !== plan.type || scope.action === 'poll') { reject(line, `scope '${line.scope}' is not ${plan.type}/<create|update|delete>`); continue }
        if (plan.direction === 'inbound' && !inboundScopes(plan.system!).includes(`${scope.type}/${scope.action}`)) {
          reject(line, `${plan.system!.id} has no inbound flow for ${line.scope}`); continue
        }
        action = scope.action
      }
      chunkLines.set(id, line.line)
      chunk.push({ line: line.line, id, action })
      if (chunk.length >= CHUNK) await flush()
    }
    await flush()
    await dropItemsThrough(writer, batchId, expandedThrough)
    await finish(writer, 'enqueued')
    await writer.query('COMMIT')
  } catch (err) {
    broken = err
    await writer.query('ROLLBACK').catch(() => {})
    receipt.queued = 0
    receipt.coalesced = 0
    accepted = 0
    expanded = 0
    await finish(ctx.pool, 'aborted').catch(() => {})
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
