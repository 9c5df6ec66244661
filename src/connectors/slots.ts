import type { Queryable } from '../db/queryable.ts'

const RETRY_MS = 20

/**
 * Run `fn` holding one of `max` concurrency slots of a system, shared by every process through
 * PostgreSQL. Waits (polling briefly) while all slots are taken.
 */
export function slotLeaser (db: Queryable) {
  const ensured = new Set<string>()

  async function acquire (systemId: string, max: number, holder: string, ttlSeconds: number): Promise<number> {
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
        [systemId, max, holder, ttlSeconds])
      if (rows.length) return rows[0].slot
      await new Promise(resolve => setTimeout(resolve, RETRY_MS + Math.random() * RETRY_MS))
    }
  }

  return async function withSlot<T> (systemId: string, max: number, holder: string, ttlSeconds: number, fn: () => Promise<T>): Promise<T> {
    const slot = await acquire(systemId, max, holder, ttlSeconds)
    try {
      return await fn()
    } finally {
      await db.query('UPDATE hub.slots SET holder = NULL, expires_at = NULL WHERE system_id = $1 AND slot = $2 AND holder = $3', [systemId, slot, holder])
    }
  }
}

export type WithSlot = ReturnType<typeof slotLeaser>
