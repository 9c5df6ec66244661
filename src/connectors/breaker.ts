import type { Logger } from 'pino'
import type { SystemConfig } from '../config/systems.ts'
import type { Queryable } from '../db/queryable.ts'

/** Thrown instead of letting a job call a system whose breaker is open. */
export class BreakerOpen extends Error {
  /** Until the next probe may go. */
  waitMs: number
  constructor (systemId: string, waitMs: number) {
    super(`${systemId} is unavailable (circuit breaker open)`)
    this.waitMs = waitMs
  }
}

/** What admit() granted: a normal call, or the one probe of an open breaker. */
export interface Pass { probe: boolean }

/** How a job's calls went: the system answered, it did not, or the job made no call. */
export type Verdict = 'up' | 'down' | 'none'

export interface BreakerState {
  state: 'closed' | 'open'
  /** Consecutive transient failures. */
  failures: number
  openedAt: string | null
  nextProbeAt: string | null
  lastError: string | null
}

// A process trusts its last view of a closed breaker this long: one read a second per system
// instead of one per job; a breaker another process opened meanwhile is learnt on the next
// failure, which then holds its job rather than spending an attempt.
const FRESH_MS = 1_000

interface View { failures: number, open: boolean, waitMs: number, at: number }

/**
 * Per-system circuit breakers, shared by every worker process through one row per system in
 * hub.breakers. After `breaker.failures` consecutive transient failures the breaker opens: jobs
 * are held, and every `breaker.probeAfterMs` one job (the probe) is let through. A success
 * anywhere closes it.
 */
export function breakers (db: Queryable, log: Logger) {
  const views = new Map<string, View>()
  const reading = new Map<string, Promise<View>>()

  async function readNow (systemId: string): Promise<View> {
    const { rows: [row] } = await db.query<{ failures: number, open: boolean, wait_ms: number }>(
      `SELECT failures, opened_at IS NOT NULL AS open,
              extract(epoch FROM greatest(probe_at, probe_until, now()) - now()) * 1000 AS wait_ms
       FROM hub.breakers WHERE system_id = $1`, [systemId])
    const view = { failures: row?.failures ?? 0, open: row?.open ?? false, waitMs: Number(row?.wait_ms ?? 0), at: Date.now() }
    views.set(systemId, view)
    return view
  }

  /** The breaker's row now; the jobs of a batch that all find their view stale share one read. */
  function read (systemId: string): Promise<View> {
    let pending = reading.get(systemId)
    if (!pending) {
      reading.set(systemId, pending = readNow(systemId).finally(() => reading.delete(systemId)))
    }
    return pending
  }

  /** Let a job call the system, as a normal call or as the probe; throws BreakerOpen to hold it. */
  async function admit (system: SystemConfig): Promise<Pass> {
    const known = views.get(system.id)
    const view = known && Date.now() - known.at < FRESH_MS ? known : await read(system.id)
    if (!view.open) return { probe: false }
    // A probe that never reports (its worker died) gives way to another after its lease.
    const lease = (3 * system.timeoutMs + 1_000) / 1000
    const { rowCount } = await db.query(
      `UPDATE hub.breakers SET probe_until = now() + make_interval(secs => $2)
       WHERE system_id = $1 AND opened_at IS NOT NULL AND probe_at <= now() AND (probe_until IS NULL OR probe_until < now())`,
      [system.id, lease])
    if (rowCount) return { probe: true }
    const now = await read(system.id)
    if (!now.open) return { probe: false }
    throw new BreakerOpen(system.id, now.waitMs)
  }

  /** Count the outcome of a job's calls; says whether the breaker is open now and whether this closed it. */
  async function record (system: SystemConfig, pass: Pass | undefined, verdict: Verdict, error?: string): Promise<{ open: boolean, closed: boolean }> {
    const probe = pass?.probe ?? false
    if (verdict === 'down') {
      const { rows: [row] } = await db.query<{ failures: number, open: boolean, opened: boolean }>(
        `INSERT INTO hub.breakers AS b (system_id, failures, opened_at, probe_at, last_error)
         VALUES ($1, 1, CASE WHEN $2 <= 1 THEN now() END, CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END, $4)
         ON CONFLICT (system_id) DO UPDATE SET
           failures = b.failures + 1,
           opened_at = coalesce(b.opened_at, CASE WHEN b.failures + 1 >= $2 THEN now() END),
           probe_at = CASE WHEN $5 OR (b.opened_at IS NULL AND b.failures + 1 >= $2) THEN now() + make_interval(secs => $3) ELSE b.probe_at END,
           probe_until = CASE WHEN $5 THEN NULL ELSE b.probe_until END,
           last_error = $4
         RETURNING failures, opened_at IS NOT NULL AS open, opened_at = now() AS opened`,
        [system.id, system.breaker.failures, system.breaker.probeAfterMs / 1000, error ?? null, probe])
      views.set(system.id, { failures: row.failures, open: row.open, waitMs: system.breaker.probeAfterMs, at: Date.now() })
      if (row.opened) log.warn({ system: system.id, failures: row.failures, error }, 'circuit breaker opened: deliveries held')
      return { open: row.open, closed: false }
    }
    const view = views.get(system.id)
    if (verdict === 'up' && (probe || view?.failures || view?.open)) {
      const { rows: [row] } = await db.query<{ was_open: boolean }>(
        `UPDATE hub.breakers b SET failures = 0, opened_at = NULL, probe_at = NULL, probe_until = NULL
         FROM (SELECT opened_at FROM hub.breakers WHERE system_id = $1 FOR UPDATE) old
         WHERE b.system_id = $1 RETURNING old.opened_at IS NOT NULL AS was_open`, [system.id])
      views.set(system.id, { failures: 0, open: false, waitMs: 0, at: Date.now() })
      if (row?.was_open) log.info({ system: system.id }, 'circuit breaker closed: held deliveries resume')
      return { open: false, closed: row?.was_open ?? false }
    }
    // A probe that made no call proved nothing: let the next one go.
    if (probe) await db.query('UPDATE hub.breakers SET probe_until = NULL WHERE system_id = $1', [system.id])
    return { open: view?.open ?? false, closed: false }
  }

  return { admit, record }
}

export type Breakers = ReturnType<typeof breakers>

/** A system's breaker as shown by the API. */
export async function breakerState (db: Queryable, systemId: string): Promise<BreakerState> {
  const { rows: [row] } = await db.query(
    `SELECT failures, to_json(opened_at)#>>'{}' AS "openedAt", to_json(probe_at)#>>'{}' AS "nextProbeAt", last_error AS "lastError"
     FROM hub.breakers WHERE system_id = $1`, [systemId])
  return row
    ? { state: row.openedAt ? 'open' : 'closed', failures: row.failures, openedAt: row.openedAt, nextProbeAt: row.nextProbeAt, lastError: row.lastError }
    : { state: 'closed', failures: 0, openedAt: null, nextProbeAt: null, lastError: null }
}
