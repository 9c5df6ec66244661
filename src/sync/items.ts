import type { JobInsert } from 'pg-boss'
import type { SystemConfig } from '../config/systems.ts'
import { prepared } from '../db/prepared.ts'
import type { Queryable } from '../db/queryable.ts'
import { inboundRow, outboundRow } from '../pipeline/jobs.ts'
import { groupConcurrency, INBOUND, OUTBOUND } from '../queue/queues.ts'
import type { Action } from '../stores/systems.ts'
import type { SyncPlan } from './plan.ts'

/** An id of the upload that passed the per-line checks, with the action it asks for. */
export interface Item { line: number, id: string, action: Action }
/** An accepted id as it becomes a job: outbound ids carry the hub record they resolved to. */
export interface Accepted extends Item { recordId?: string }
/** An id rejected once the whole upload is stored: a duplicate of an earlier line, or unresolved. */
export interface LateRejection { line: number, id: string, first: number, unresolved: boolean }

// A chunk's arrays travel as JSON texts: node-postgres builds an array literal by concatenating
// each element in turn, a quarter of what a million-id upload allocated; JSON.stringify is one
// native pass.
const elements = (param: string, type: string) =>
  `ARRAY(SELECT e::${type} FROM json_array_elements_text(${param}::json) WITH ORDINALITY AS x(e, o) ORDER BY o)`
const STORE = `INSERT INTO hub.sync_chunks (batch_id, n, lines, ids, actions, record_ids)
  VALUES ($1, $2, ${elements('$3', 'int')}, ${elements('$4', 'text')}, ${elements('$5', 'text')}, CASE WHEN $6::json IS NOT NULL THEN ${elements('$6', 'uuid')} END)`

/** Store a chunk of ids as one row (outbound: with the record each resolved to, or null). */
export async function storeChunk (db: Queryable, batchId: string, n: number, items: Item[], recordIds?: Map<string, string>): Promise<void> {
  await db.query({
    ...prepared(STORE),
    values: [batchId, n, JSON.stringify(items.map(i => i.line)), JSON.stringify(items.map(i => i.id)), JSON.stringify(items.map(i => i.action)),
      recordIds ? JSON.stringify(items.map(i => recordIds.get(i.id) ?? null)) : null]
  })
}

/**
 * Once every chunk is stored, take out of them the ids repeating an earlier line, and outbound
 * ids that resolved to no record: one statement over the stored ids (PostgreSQL sorts them, on
 * disk if need be), so no id is held here to find duplicates. Returns how many were taken out
 * and the first `listed` of them by line.
 */
export async function dropLateRejections (db: Queryable, batchId: string, outbound: boolean, listed: number): Promise<{ count: number, first: LateRejection[] }> {
  const { rows: [r] } = await db.query<{ count: number, first: LateRejection[] }>(
    `WITH item AS (
       SELECT c.n, x.*, min(x.line) OVER (PARTITION BY x.id) AS first
       FROM hub.sync_chunks c, unnest(c.lines, c.ids, c.actions, coalesce(c.record_ids, array_fill(NULL::uuid, ARRAY[cardinality(c.ids)])))
         WITH ORDINALITY AS x(line, id, action, record_id, ord)
       WHERE c.batch_id = $1),
     judged AS (SELECT *, line > first OR ($2 AND record_id IS NULL) AS out FROM item),
     rewritten AS (
       UPDATE hub.sync_chunks c SET
         lines = coalesce(k.lines, '{}'), ids = coalesce(k.ids, '{}'), actions = coalesce(k.actions, '{}'),
         record_ids = CASE WHEN $2 THEN coalesce(k.record_ids, '{}') END
       FROM (SELECT n, array_agg(line ORDER BY ord) FILTER (WHERE NOT out) AS lines, array_agg(id ORDER BY ord) FILTER (WHERE NOT out) AS ids,
                    array_agg(action ORDER BY ord) FILTER (WHERE NOT out) AS actions, array_agg(record_id ORDER BY ord) FILTER (WHERE NOT out) AS record_ids
             FROM judged WHERE n IN (SELECT n FROM judged WHERE out) GROUP BY n) k
       WHERE c.batch_id = $1 AND c.n = k.n)
     SELECT (SELECT count(*)::int FROM judged WHERE out) AS count,
            (SELECT coalesce(json_agg(j ORDER BY line), '[]') FROM (
               SELECT line, id, first, record_id IS NULL AND line = first AS unresolved FROM judged WHERE out ORDER BY line LIMIT $3) j) AS first`,
    [batchId, outbound, listed])
  return r
}

/**
 * Take the next `limit` stored ids of a batch, in upload order, from its chunks at `offset`
 * (ids of the first chunk already taken); a chunk fully taken is deleted. Runs in the caller's
 * transaction, which inserts the ids' jobs and saves the returned offset with them.
 */
export async function takeItems (db: Queryable, batchId: string, offset: number, limit: number): Promise<{ items: Accepted[], offset: number }> {
  const items: Accepted[] = []
  while (items.length < limit) {
    const from = offset + 1
    const to = offset + limit - items.length
    const { rows: [chunk] } = await db.query<{ n: number, size: number, lines: number[], ids: string[], actions: Action[], record_ids: string[] | null }>(
      `SELECT n, cardinality(ids) AS size, lines[$2:$3] AS lines, ids[$2:$3] AS ids, actions[$2:$3] AS actions, record_ids[$2:$3] AS record_ids
       FROM hub.sync_chunks WHERE batch_id = $1 ORDER BY n LIMIT 1`, [batchId, from, to])
    if (!chunk) break
    chunk.ids.forEach((id, i) => items.push({ line: chunk.lines[i], id, action: chunk.actions[i], ...(chunk.record_ids ? { recordId: chunk.record_ids[i] } : {}) }))
    offset += chunk.ids.length
    if (offset < chunk.size) break
    await db.query('DELETE FROM hub.sync_chunks WHERE batch_id = $1 AND n = $2', [batchId, chunk.n])
    offset = 0
  }
  return { items, offset }
}

/** What building a batch's jobs needs: its plan, with the system ids in case a system was deleted since. */
export type JobPlan = Pick<SyncPlan, 'direction' | 'type' | 'system' | 'target' | 'debug'> & { systemId: string, targetId?: string }

/** The pg-boss rows of accepted ids: the same rows (and coalescing keys) as any other door's. */
export function jobsFor (plan: JobPlan, batchId: string, items: Accepted[]): { queue: string, rows: JobInsert[] } {
  const debug = plan.debug ? { debug: true } : {}
  if (plan.direction === 'inbound') {
    // A delete line is a claim that the source lost the record: checked before anything goes.
    return { queue: INBOUND, rows: items.map(i => inboundRow({ system: plan.systemId, type: plan.type, action: i.action, id: i.id, batchId, ...debug, ...i.action === 'delete' ? { ifGone: true } : {} }, plan.system)) }
  }
  // A target deleted since the upload: its jobs still go out and fail as "not configured", so the
  // batch ends with the reason in its failures.
  const target = plan.target ?? { id: plan.targetId!, throttle: { maxConcurrent: groupConcurrency.default } } as SystemConfig
  return { queue: OUTBOUND, rows: items.map(i => outboundRow({ system: target.id, type: plan.type, action: i.action, recordId: i.recordId!, batchId, ...debug }, target)) }
}
