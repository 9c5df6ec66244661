import { randomUUID } from 'node:crypto'
import type { JobInsert } from 'pg-boss'
import type { PipelineContext } from '../pipeline/context.ts'
import { inboundRow, insertJobs, outboundRow } from '../pipeline/jobs.ts'
import { parseScope } from '../pipeline/scope.ts'
import { inboundScopes } from '../stores/systems.ts'
import { INBOUND, OUTBOUND } from '../queue/queues.ts'
import type { SyncPlan } from './plan.ts'

export interface Line { line: number, id: string, scope?: string }
export interface Rejection { line: number, id: string, reason: string }
export interface BatchReceipt { batchId: string, queued: number, coalesced: number, rejected: Rejection[], rejectedCount: number }

type Queues = Pick<PipelineContext, 'pool' | 'boss'>

const CHUNK = 1_000
const MAX_ID = 255
// The answer lists this many rejections; the count covers them all.
const MAX_LISTED = 1_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Turn a stream of ids into jobs of one batch, a chunk at a time, so any number of ids fits in
 * bounded memory (only the ids seen, for duplicate detection, are kept). Blank, over-long,
 * duplicate and unresolvable ids are rejected with their line; the rest proceed.
 */
export async function enqueueBatch (ctx: Queues, plan: SyncPlan, lines: AsyncIterable<Line> | Iterable<Line>): Promise<BatchReceipt> {
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
  // Chunks commit without waiting for the disk; the batch's final (synchronous) commit below
  // flushes the log up to itself, so every chunk is durable before the client hears 202.
  const writer = await ctx.pool.connect()
  await writer.query('SET synchronous_commit TO off')

  // On the pool (synchronous commit): this commit also makes the chunks before it durable.
  const finish = (state: 'enqueued' | 'aborted') => ctx.pool.query(
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

  try {
    for await (const line of lines) {
      const id = line.id.trim()
      if (!id) { reject(line, 'blank id'); continue }
      if (id.length > MAX_ID) { reject(line, `id longer than ${MAX_ID} characters`); continue }
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
  } catch (err) {
    await finish('aborted')
    throw Object.assign(err as Error, { batch: receipt })
  } finally {
    await writer.query('RESET synchronous_commit').catch(() => {})
    writer.release()
  }
  await finish('enqueued')
  return receipt
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
