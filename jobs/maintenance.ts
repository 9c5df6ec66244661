import type { Queryable } from '../src/db/queryable.ts'

// How long the hub keeps what only matters for a while: redelivery ids (a sender retrying a
// webhook a week later is sending a new change) and debug traces.
const KEEP_DAYS = 7

/** Delete what has outlived its use; scheduled hourly (see src/workers.ts). */
export async function cleanUp (db: Queryable): Promise<{ hookEvents: number, traces: number }> {
  const events = await db.query(`DELETE FROM hub.hook_events WHERE received_at < now() - make_interval(days => ${KEEP_DAYS})`)
  const traces = await db.query(`DELETE FROM hub.traces WHERE created_at < now() - make_interval(days => ${KEEP_DAYS})`)
  return { hookEvents: events.rowCount ?? 0, traces: traces.rowCount ?? 0 }
}
