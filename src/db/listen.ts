import type { Logger } from 'pino'
import type { Pool, PoolClient } from './pool.ts'

// A lost connection (database restarted) is replaced this long after.
const RECONNECT_MS = 1_000

export interface Listener { close (): Promise<void> }

/**
 * LISTEN on `channel` over a connection of `pool`, and connect again whenever that connection
 * is lost. `onNotify` also runs after each reconnect: a notification sent meanwhile was missed.
 * The first connection is awaited, so a database that is down fails the caller's start.
 */
export async function listen (pool: Pool, channel: string, onNotify: () => void, log: Logger): Promise<Listener> {
  let client: PoolClient | undefined
  let closed = false
  let timer: NodeJS.Timeout | undefined

  async function connect (): Promise<void> {
    const c = await pool.connect()
    let lost = false
    c.on('notification', () => onNotify())
    c.on('error', err => {
      if (lost || closed) return
      lost = true
      log.warn({ err, channel }, 'notification listener lost; connecting again')
      if (client === c) client = undefined
      c.release(err)
      retry()
    })
    try {
      await c.query(`LISTEN ${channel}`)
    } catch (err) {
      if (!lost) { lost = true; c.release(err as Error) }
      throw err
    }
    if (closed) { lost = true; c.release(); return }
    client = c
  }
  function retry (): void {
    timer = setTimeout(() => {
      connect().then(() => { if (!closed) onNotify() }, () => { if (!closed) retry() })
    }, RECONNECT_MS).unref()
  }

  await connect()
  return {
    async close () {
      closed = true
      clearTimeout(timer)
      const c = client
      client = undefined
      if (!c) return
      await c.query(`UNLISTEN ${channel}`).catch(() => {})
      c.release()
    }
  }
}
