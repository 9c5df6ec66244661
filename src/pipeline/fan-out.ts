import type { JobInsert } from 'pg-boss'
import type { Queryable } from '../db/queryable.ts'
import type { DataType } from '../models/index.ts'
import { OUTBOUND } from '../queue/queues.ts'
import { addHistory } from '../stores/history.ts'
import { externalIdOf } from '../stores/records.ts'
import { findFlow } from '../stores/systems.ts'
import type { Action } from '../stores/systems.ts'
import type { PipelineContext } from './context.ts'
import { insertJobs, outboundRow } from './jobs.ts'
import type { Claim } from './runner.ts'

export interface Change {
  recordId: string
  type: DataType
  action: Action
  /** The system the change came from: never sent back there. */
  origin: string
  debug?: boolean
  batchId?: string
}

/**
 * Enqueue one outbound job per system with an enabled outbound flow for this type and action,
 * on `db` (the transaction that wrote the record, so the record and its fan-out commit together).
 * A delete that a linked destination cannot take is recorded as skipped right here.
 */
export async function fanOut (ctx: FanOutContext, db: Queryable, change: Change): Promise<string[]> {
  return (await fanOutAll(ctx, db, [change]))[0]
}

/** What a fan-out needs; with `claim`, this process runs the deliveries it has room for itself. */
export type FanOutContext = Pick<PipelineContext, 'boss' | 'systems'> & { claim?: Claim }

/** fanOut for many changes, with one insert for all their jobs; the job ids per change, in order. */
export async function fanOutAll (ctx: FanOutContext, db: Queryable, changes: Change[]): Promise<string[][]> {
  if (!changes.length) return []
  const systems = await ctx.systems.all()
  const rows = changes.map(() => [] as JobInsert[])
  for (const [i, change] of changes.entries()) {
    for (const system of systems) {
      if (system.id === change.origin) continue
      if (findFlow(system, change.type, 'outbound', change.action)) {
        rows[i].push(outboundRow({ system: system.id, type: change.type, action: change.action, recordId: change.recordId, origin: change.origin, debug: change.debug, batchId: change.batchId }, system))
      } else if (change.action === 'delete' && findFlow(system, change.type, 'outbound')) {
        const externalId = await externalIdOf(db, system.id, change.type, change.recordId)
        if (externalId) {
          await addHistory(db, { recordId: change.recordId, type: change.type, systemId: system.id, direction: 'outbound', action: 'delete', outcome: 'skipped', reason: `delete not supported by ${system.id}`, externalId })
        }
      }
    }
  }
  const all = rows.flat()
  const claimed = ctx.claim?.reserve(OUTBOUND, all) ?? []
  const inserted = await insertJobs(ctx.boss, OUTBOUND, all, db)
  await ctx.claim?.activate(db, OUTBOUND, claimed)
  return rows.map(r => r.map(row => row.id!).filter(id => inserted.has(id)))
}
