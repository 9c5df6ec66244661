import type { Queryable } from '../db/queryable.ts'

const RETRY_MS = 20

export interface SlotOptions {
  /** How long a lease lasts unless renewed: a dead holder's slot is free again this soon. */
  leaseSeconds?: number
}

/**
 * Run `fn` holding one of `max` concurrency slots of a system, shared by every process through
 * PostgreSQL. Waits (polling briefly) while all slots are taken. A lease is short and renewed
 * while its holder runs, so a killed process (or one cut off from the database) gives its slots
 * back within `leaseSeconds` rather than holding its systems' capacity for minutes.
 */
export function slotLeaser (db: Queryable, { leaseSeconds = 10 }: SlotOptions = {}) {
  const ensured = new Set<string>()
  // Holders with a lease now: renewed together, one statement per tick for the whole process.
  const held = new Set<string>()
  let renewer: NodeJS.Timeout | undefined

  async function renew (): Promise<void> {
    if (!held.size) {
      clearInterval(renewer)
      renewer = undefined
      return
    }
    // A failed renewal (database unreachable) is not fatal: the lease runs out, which is the point.
    await db.query('UPDATE hub.slots SET expires_at = now() + make_interval(secs => $2) WHERE holder = ANY($1::uuid[])', [[...held], leaseSeconds]).catch(() => {})
  }

  async function acquire (systemId: string, max: number, holder: string): Promise<number> {
    const key = `${systemId}:${max}`
    if (!ensured.has(key)) {
      await db.query('INSERT INTO hub.slots (system_id, slot) SELECT $1, g FROM generate_series(1, $2) g ON CONFLICT DO NOTHING', [systemId, max])
      ensured.add(key)
    }
    for (;;) {
      const { rows } = await db.query<{ slot: number }>(
        `UPDATE hub.slots s SET holder = $3, expires_at = now() + make_interval(secs => $4)
         FROM (SELECT slot FROM hub.slots WHERE system_id = $1 AND slot <= $2 AND (holder IS NULL OR expires_at < now())
               ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED) free
         WHERE s.system_id = $1 AND s.slot = free.slot RETURNING s.slot`,
        [systemId, max, holder, leaseSeconds])
      if (rows.length) return rows[0].slot
      await new Promise(resolve => setTimeout(resolve, RETRY_MS + Math.random() * RETRY_MS))
    }
  }

  return async function withSlot<T> (systemId: string, max: number, holder: string, fn: () => Promise<T>): Promise<T> {
    const slot = await acquire(systemId, max, holder)
    held.add(holder)
    renewer ??= setInterval(renew, leaseSeconds * 1000 / 3).unref()
    try {
      return await fn()
    } finally {
      held.delete(holder)
      await db.query('UPDATE hub.slots SET holder = NULL, expires_at = NULL WHERE system_id = $1 AND slot = $2 AND holder = $3', [systemId, slot, holder])
    }
  }
}

export type WithSlot = ReturnType<typeof slotLeaser>
