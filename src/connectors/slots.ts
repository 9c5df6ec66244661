import { randomUUID } from 'node:crypto'
import { batcher } from '../db/batcher.ts'
import { prepared } from '../db/prepared.ts'
import type { Queryable } from '../db/queryable.ts'

const RETRY_MS = 20
// A slot no job waits for is kept this long before it goes back to the database: between two
// bursts of a system's jobs a moment apart, each slot would otherwise be released and leased
// again (two statements a slot, the most frequent of the pipeline's, on the end-to-end bench).
const LINGER_MS = 250

export interface SlotOptions {
  /** How long a lease lasts unless renewed: a dead holder's slot is free again this soon. */
  leaseSeconds?: number
}

interface Waiter { max: number, resolve (slot: number): void, reject (err: unknown): void }
interface SystemSlots { waiters: Waiter[], leasing: boolean, idle: Array<{ slot: number, since: number }> }

/**
 * Run `fn` holding one of `max` concurrency slots of a system, shared by every process through
 * PostgreSQL. A lease is short and renewed while this process holds it, so a killed process (or
 * one cut off from the database) gives its slots back within `leaseSeconds` rather than holding
 * its systems' capacity for minutes.
 * Round trips are shared: the jobs of a system waiting at one moment lease their slots in one
 * statement, and a slot a job is done with goes straight to the next job of this process waiting
 * for that system, without going back to the database; it goes back once no job has wanted it
 * for LINGER_MS.
 */
export function slotLeaser (db: Queryable, { leaseSeconds = 10 }: SlotOptions = {}) {
  // Every lease of this process: renewed together, one statement per tick.
  const holder = randomUUID()
  const ensured = new Set<string>()
  const systems = new Map<string, SystemSlots>()
  let held = 0
  let renewer: NodeJS.Timeout | undefined

  const renew = async () => {
    // A failed renewal (database unreachable) is not fatal: the lease runs out, which is the point.
    await db.query('UPDATE hub.slots SET expires_at = now() + make_interval(secs => $2) WHERE holder = $1', [holder, leaseSeconds]).catch(() => {})
  }

  const release = batcher(async (slots: Array<{ systemId: string, slot: number }>) => {
    await db.query({
      ...prepared(`UPDATE hub.slots s SET holder = NULL, expires_at = NULL FROM unnest($2::text[], $3::int[]) AS r(system_id, slot)
       WHERE s.system_id = r.system_id AND s.slot = r.slot AND s.holder = $1`),
      values: [holder, slots.map(s => s.systemId), slots.map(s => s.slot)]
    })
    return slots.map(() => undefined)
  })

  let sweeper: NodeJS.Timeout | undefined
  /** Give back the slots no job has wanted for LINGER_MS. */
  function sweep (): void {
    sweeper = undefined
    const before = Date.now() - LINGER_MS
    let left = 0
    for (const [systemId, s] of systems) {
      const stale = s.idle.filter(i => i.since <= before)
      s.idle = s.idle.filter(i => i.since > before)
      left += s.idle.length
      for (const { slot } of stale) {
        held--
        // A release the database refuses now is not lost for good: the lease runs out.
        release({ systemId, slot }).catch(() => {})
      }
    }
    if (!held) {
      clearInterval(renewer)
      renewer = undefined
    }
    if (left) sweeper = setTimeout(sweep, LINGER_MS).unref()
  }

  function stateOf (systemId: string): SystemSlots {
    let s = systems.get(systemId)
    if (!s) systems.set(systemId, s = { waiters: [], leasing: false, idle: [] })
    return s
  }

  /** Hand a slot this process holds to its next waiter that may use it, or give it back. */
  function pass (systemId: string, slot: number): void {
    const s = stateOf(systemId)
    const next = s.waiters.findIndex(w => slot <= w.max)
    if (next >= 0) {
      s.waiters.splice(next, 1)[0].resolve(slot)
      return
    }
    s.idle.push({ slot, since: Date.now() })
    sweeper ??= setTimeout(sweep, LINGER_MS).unref()
  }

  /** Lease slots for the system's waiters, one statement for all of them, until none waits. */
  async function lease (systemId: string, s: SystemSlots): Promise<void> {
    s.leasing = true
    try {
      while (s.waiters.length) {
        // The first waiter's limit: every slot leased is then one it may use.
        const max = s.waiters[0].max
        const key = `${systemId}:${max}`
        if (!ensured.has(key)) {
          await db.query('INSERT INTO hub.slots (system_id, slot) SELECT $1, g FROM generate_series(1, $2) g ON CONFLICT DO NOTHING', [systemId, max])
          ensured.add(key)
        }
        const { rows } = await db.query<{ slot: number }>({
          ...prepared(`UPDATE hub.slots s SET holder = $3, expires_at = now() + make_interval(secs => $4)
           FROM (SELECT slot FROM hub.slots WHERE system_id = $1 AND slot <= $2 AND (holder IS NULL OR expires_at < now())
                 ORDER BY slot LIMIT $5 FOR UPDATE SKIP LOCKED) free
           WHERE s.system_id = $1 AND s.slot = free.slot RETURNING s.slot`),
          values: [systemId, max, holder, leaseSeconds, s.waiters.length]
        })
        held += rows.length
        if (held) renewer ??= setInterval(renew, leaseSeconds * 1000 / 3).unref()
        for (const { slot } of rows) pass(systemId, slot)
        if (!rows.length) await new Promise(resolve => setTimeout(resolve, RETRY_MS + Math.random() * RETRY_MS))
      }
    } catch (err) {
      for (const w of s.waiters.splice(0)) w.reject(err)
    } finally {
      s.leasing = false
    }
  }

  return async function withSlot<T> (systemId: string, max: number, fn: () => Promise<T>): Promise<T> {
    const s = stateOf(systemId)
    const kept = s.idle.findIndex(i => i.slot <= max)
    const slot = kept >= 0 ? s.idle.splice(kept, 1)[0].slot : await new Promise<number>((resolve, reject) => {
      s.waiters.push({ max, resolve, reject })
      if (!s.leasing) void lease(systemId, s)
    })
    try {
      return await fn()
    } finally {
      pass(systemId, slot)
    }
  }
}

export type WithSlot = ReturnType<typeof slotLeaser>
