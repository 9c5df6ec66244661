import { randomUUID } from 'node:crypto'
import type { JobInsert } from 'pg-boss'
import type { PipelineContext } from '../pipeline/context.ts'
import { isDatabaseUnavailable } from '../db/errors.ts'
import type { Queryable } from '../db/queryable.ts'
import { MAX_ID, textProblem } from '../models/text.ts'
import { inboundRow, insertJobs, outboundRow } from '../pipeline/jobs.ts'
import { parseScope } from '../pipeline/scope.ts'
import { triggerBatch } from '../poll/trigger.ts'
import { conflict } from '../errors.ts'
import { inboundScopes } from '../stores/systems.ts'
import { INBOUND, OUTBOUND } from '../queue/queues.ts'
import type { SyncPlan } from './plan.ts'

export interface Line { line: number, id: string, scope?: string }
export interface Rejection { line: number, id: string, reason: string }
export interface BatchReceipt { batchId: string, queued: number, coalesced: number, rejected: Rejection[], rejectedCount: number }

type Queues = Pick<PipelineContext, 'pool' | 'boss'>

const CHUNK = 1_000
// The answer lists this many rejections; the count covers them all.
const MAX_LISTED = 1_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Turn a stream of ids into jobs of one batch, a chunk at a time, so any number of ids fits in
 * bounded memory (only the ids seen, for duplicate detection, are kept). Blank, over-long,
 * unstorable, duplicate and unresolvable ids are rejected with their line; the rest proceed.
 */
export async function enqueueBatch (ctx: Queues, plan: SyncPlan, lines: AsyncIterable<Line> | Iterable<Line>): Promise<BatchReceipt> {
  if (plan.poll) return await pollBatch(ctx, plan)
  const batchId = randomUUID()
  await ctx.pool.query(
    `INSERT INTO hub.sync_batches (id, system_id, target_id, type, action, direction, debug) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [batchId, plan.system?.id ?? null, plan.target?.id ?? null, plan.type, plan.action, plan.direction, plan.debug])
  const receipt: BatchReceipt = { batchId, queued: 0, coalesced: 0, rejected: [], rejectedCount: 0 }
  const reject = (line: Line, reason: string) => {
    receipt.rejectedCount++
    if (receipt.rejected.length < MAX_LISTED) receipt.rejected.push({ line: line.line, id: line.id, reason })
  }
  const seen = new Map<string, number>()
  let chunk: Array<{ line: Line, action: SyncPlan['action'] }> = []
  // One transaction for the whole batch: a request that ends in an error (a broken CSV line, a
  // client gone mid-upload) queues nothing, so any 4xx means "nothing happened, send it again".
  // Jobs are visible to workers from the commit on.
  const writer = await ctx.pool.connect()

  const finish = (db: Queryable, state: 'enqueued' | 'aborted') => db.query(
    `UPDATE hub.sync_batches SET state = $2, enqueued_at = CASE WHEN $2 = 'enqueued' THEN now() END,
       queued = $3, coalesced = $4, rejected = $5 WHERE id = $1`,
    [batchId, state, receipt.queued, receipt.coalesced, receipt.rejectedCount])

  const flush = async () => {
    const rows = plan.direction === 'inbound' ? inboundRows(plan, batchId, chunk) : await outboundRows(ctx, plan, batchId, chunk, reject)
    chunk = []
    const inserted = await insertJobs(ctx.boss, plan.direction === 'inbound' ? INBOUND : OUTBOUND, rows, writer)
    receipt.queued += inserted.size
    receipt.coalesced += rows.length - inserted.size
  }

  let broken: unknown
  try {
    await writer.query('BEGIN')
    for await (const line of lines) {
      const id = line.id.trim()
      const problem = id ? textProblem(id, MAX_ID) : 'blank id'
      if (problem) { reject(line, problem === 'blank id' ? problem : `id ${problem}`); continue }
      const first = seen.get(id)
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
      seen.set(id, line.line)
      chunk.push({ line: { ...line, id }, action })
      if (chunk.length >= CHUNK) await flush()
    }
    if (chunk.length) await flush()
    await finish(writer, 'enqueued')
    await writer.query('COMMIT')
  } catch (err) {
    broken = err
    await writer.query('ROLLBACK').catch(() => {})
    receipt.queued = 0
    receipt.coalesced = 0
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

function inboundRows (plan: SyncPlan, batchId: string, chunk: Array<{ line: Line, action: SyncPlan['action'] }>): JobInsert[] {
  return chunk.map(({ line, action }) => inboundRow({ system: plan.system!.id, type: plan.type, action, id: line.id, batchId, ...(plan.debug ? { debug: true } : {}) }, plan.system))
}

/** Outbound ids are hub record ids, or (with a system) that system's external ids, resolved through the links. */
async function outboundRows (ctx: Queues, plan: SyncPlan, batchId: string, chunk: Array<{ line: Line, action: SyncPlan['action'] }>, reject: (line: Line, reason: string) => void): Promise<JobInsert[]> {
  const ids = chunk.map(c => c.line.id)
  const { rows } = plan.system
    ? await ctx.pool.query<{ key: string, record_id: string }>(
      'SELECT external_id AS key, record_id FROM hub.links WHERE system_id = $1 AND type = $2 AND external_id = ANY($3)', [plan.system.id, plan.type, ids])
    : await ctx.pool.query<{ key: string, record_id: string }>(
      'SELECT id::text AS key, id AS record_id FROM hub.records WHERE type = $1 AND id = ANY($2::uuid[])', [plan.type, ids.filter(id => UUID.test(id))])
  const found = new Map(rows.map(r => [r.key, r.record_id]))
  const out: JobInsert[] = []
  for (const { line, action } of chunk) {
    const recordId = found.get(line.id)
    if (!recordId) {
      reject(line, plan.system ? `no hub ${plan.type} is linked to ${plan.system.id} ${line.id}` : `no hub ${plan.type} with id ${line.id}`)
      continue
    }
    out.push(outboundRow({ system: plan.target!.id, type: plan.type, action, recordId, batchId, ...(plan.debug ? { debug: true } : {}) }, plan.target!))
  }
  return out
}
