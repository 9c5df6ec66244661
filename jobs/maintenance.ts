import type { Env } from '../src/config/env.ts'
import type { Queryable } from '../src/db/queryable.ts'

// Redelivery ids matter for a week: a sender retrying a webhook later is sending a new change.
const HOOK_EVENT_DAYS = 7

/** How many days the hub keeps debug traces, record history and final failures. */
export interface Retention { traceDays: number, historyDays: number, errorDays: number }

export const retentionOf = (env: Pick<Env, 'HUB_KEEP_TRACES_DAYS' | 'HUB_KEEP_HISTORY_DAYS' | 'HUB_KEEP_ERRORS_DAYS'>): Retention =>
  ({ traceDays: env.HUB_KEEP_TRACES_DAYS, historyDays: env.HUB_KEEP_HISTORY_DAYS, errorDays: env.HUB_KEEP_ERRORS_DAYS })

const older = (db: Queryable, table: string, column: string, days: number) =>
  db.query(`DELETE FROM hub.${table} WHERE ${column} < now() - make_interval(days => $1)`, [days]).then(r => r.rowCount ?? 0)

/** Delete what has outlived its use; scheduled hourly (see src/workers.ts). */
export async function cleanUp (db: Queryable, keep: Retention): Promise<{ hookEvents: number, traces: number, history: number, errors: number }> {
  return {
    hookEvents: await older(db, 'hook_events', 'received_at', HOOK_EVENT_DAYS),
    traces: await older(db, 'traces', 'created_at', keep.traceDays),
    history: await older(db, 'history', 'at', keep.historyDays),
    errors: await older(db, 'errors', 'at', keep.errorDays)
  }
}
