import type { SystemConfig } from '../config/systems.ts'
import type { Queryable } from '../db/queryable.ts'

/**
 * A system's requests-per-second limit, shared by every worker process: each call takes the
 * next free slot from one row in PostgreSQL (atomically) and sleeps until it.
 */
export function pacer (db: Queryable) {
  return async (system: SystemConfig): Promise<void> => {
    const perSecond = system.throttle.perSecond
    if (!perSecond) return
    const { rows } = await db.query<{ wait_ms: number }>(
      `INSERT INTO hub.throttle AS t (system_id, next_at) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
       ON CONFLICT (system_id) DO UPDATE SET next_at = greatest(t.next_at, clock_timestamp()) + make_interval(secs => $2)
       RETURNING greatest(0, extract(epoch FROM (t.next_at - make_interval(secs => $2) - clock_timestamp())) * 1000)::float8 AS wait_ms`,
      [system.id, 1 / perSecond])
    const wait = rows[0].wait_ms
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
  }
}

export type Pace = ReturnType<typeof pacer>
