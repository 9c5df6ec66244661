import type { JobInsert } from 'pg-boss'
import type { SystemConfig } from '../config/systems.ts'
import type { Queryable } from '../db/queryable.ts'
import { inboundRow, outboundRow } from '../pipeline/jobs.ts'
import { groupConcurrency, INBOUND, OUTBOUND } from '../queue/queues.ts'
import type { Action } from '../stores/systems.ts'
import type { SyncPlan } from './plan.ts'

/**
 * How many of one batch's jobs may wait in each queue at once (src/sync/expand.ts tops them up
 * every half second). 2,000 is over a second of the pipeline's best throughput, so workers never
 * run dry between two top-ups, yet a million-id batch adds only that many waiting rows for
 * pg-boss's fetch to pass over (it slows as waiting rows pile up).
 */
export const MAX_WAITING = 2_000

/** An id of the upload that passed the per-line checks, with the action it asks for. */
export interface Item { line: number, id: string, action: Action }
/** A stored id as it becomes a job: outbound ids carry the hub record they resolved to. */
export interface Accepted extends Item { recordId?: string }

/**
 * Store a chunk of ids (no two alike) unless an earlier chunk of the batch had them. Returns
 * the lines stored, and for the rest the line of the id's first occurrence.
 */
export async function storeItems (db: Queryable, batchId: string, items: Item[], recordIds?: Map<string, string>): Promise<{ stored: Set<number>, firstLine: Map<string, number> }> {
  if (!items.length) return { stored: new Set(), firstLine: new Map() }
  // unnest: one statement and one round trip for the whole chunk, however many ids it holds.
  const { rows } = await db.query<{ line: number }>(
    `INSERT INTO hub.sync_items (batch_id, line, id, action, record_id)
     SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::uuid[])
     ON CONFLICT (batch_id, id) DO NOTHING RETURNING line`,
    [batchId, items.map(i => i.line), items.map(i => i.id), items.map(i => i.action), items.map(i => recordIds?.get(i.id) ?? null)])
  const stored = new Set(rows.map(r => r.line))
  const firstLine = new Map<string, number>()
  const again = items.filter(i => !stored.has(i.line)).map(i => i.id)
  if (again.length) {
    const { rows: first } = await db.query<{ id: string, line: number }>(
      'SELECT id, line FROM hub.sync_items WHERE batch_id = $1 AND id = ANY($2)', [batchId, again])
    for (const r of first) firstLine.set(r.id, r.line)
  }
  return { stored, firstLine }
}

/**
 * Take up to `limit` of a batch's stored ids, first lines first: deleted in the caller's
 * transaction, which inserts their jobs, so an id leaves the table exactly when its job exists.
 * Outbound ids that resolved to no record (rejected at upload) are dropped on the way.
 */
export async function takeItems (db: Queryable, batchId: string, limit: number): Promise<Accepted[]> {
  const { rows } = await db.query<{ line: number, id: string, action: Action, record_id: string | null }>(
    `DELETE FROM hub.sync_items WHERE batch_id = $1 AND line IN (SELECT line FROM hub.sync_items WHERE batch_id = $1 ORDER BY line LIMIT $2)
     RETURNING line, id, action, record_id`, [batchId, limit])
  return rows.sort((a, b) => a.line - b.line).map(r => ({ line: r.line, id: r.id, action: r.action, ...(r.record_id ? { recordId: r.record_id } : {}) }))
}

/** Forget the ids already turned into jobs at upload: they were stored only to find duplicates. */
export async function dropItemsThrough (db: Queryable, batchId: string, line: number): Promise<void> {
  await db.query('DELETE FROM hub.sync_items WHERE batch_id = $1 AND line <= $2', [batchId, line])
}

/** What building a batch's jobs needs: its plan, with the system ids in case a system was deleted since. */
export type JobPlan = Pick<SyncPlan, 'direction' | 'type' | 'system' | 'target' | 'debug'> & { systemId: string, targetId?: string }

/** The pg-boss rows of accepted ids: the same rows (and coalescing keys) as any other door's. */
export function jobsFor (plan: JobPlan, batchId: string, items: Accepted[]): { queue: string, rows: JobInsert[] } {
  const debug = plan.debug ? { debug: true } : {}
  if (plan.direction === 'inbound') {
    return { queue: INBOUND, rows: items.map(i => inboundRow({ system: plan.systemId, type: plan.type, action: i.action, id: i.id, batchId, ...debug }, plan.system)) }
  }
  // A target deleted since the upload: its jobs still go out and fail as "not configured", so the
  // batch ends with the reason in its failures.
  const target = plan.target ?? { id: plan.targetId!, throttle: { maxConcurrent: groupConcurrency.default } } as SystemConfig
  return { queue: OUTBOUND, rows: items.filter(i => i.recordId).map(i => outboundRow({ system: target.id, type: plan.type, action: i.action, recordId: i.recordId!, batchId, ...debug }, target)) }
}
