import type { Logger } from 'pino'
import { hashWebhookKeys } from '../auth/webhook-keys.ts'
import { notSet, parseSystem } from '../config/load.ts'
import { secretsOf } from '../config/secrets.ts'
import type { Env, Missing } from '../config/load.ts'
import type { Flow, SystemConfig } from '../config/systems.ts'
import { listen } from '../db/listen.ts'
import { inTransaction } from '../db/pool.ts'
import type { Pool, PoolClient } from '../db/pool.ts'
import type { DataType } from '../models/index.ts'
import { dropSecrets, setSecrets } from '../redact.ts'

export type Action = 'create' | 'update' | 'delete'

/**
 * A deleted system's poll state goes with it: a system made again under its id starts with a
 * full pull, rather than from a cursor that would skip what came before it.
 */
async function forgetPolls (db: PoolClient, ids: string[]): Promise<void> {
  if (!ids.length) return
  await db.query('DELETE FROM hub.poll_state WHERE system_id = ANY($1)', [ids])
  await db.query('DELETE FROM hub.poll_audit WHERE system_id = ANY($1)', [ids])
}

const UPSERT = `INSERT INTO hub.systems (id, document, source) VALUES ($1, $2, $3)
  ON CONFLICT (id) DO UPDATE SET document = excluded.document, source = excluded.source, updated_at = now()`
// Every process LISTENs on this channel and drops its cache when a system changes.
const CHANNEL = 'hub_systems'
const NOTIFY = `SELECT pg_notify('${CHANNEL}', '')`

// Should a notification be missed (listener reconnecting), a change still shows within this long.
const CACHE_MS = 10_000

/** A stored system; `unusable` says why this process cannot use it (an ${ENV} it lacks, say). */
export interface StoredSystem { id: string, document: unknown, source: 'file' | 'api', unusable?: string[] }

export interface SystemRegistry {
  get (id: string): Promise<SystemConfig | undefined>
  all (): Promise<SystemConfig[]>
  /** The documents as stored, ${ENV} references intact (for the API, after redaction). */
  documents (): Promise<StoredSystem[]>
  /** Validate a document sent over the API, with the variables API documents may use. */
  check (document: unknown): ReturnType<typeof parseSystem>
  /** Store a validated document as written (with its ${ENV} references). */
  put (id: string, document: unknown, source: 'file' | 'api'): Promise<void>
  remove (id: string): Promise<boolean>
  /** Make the config file's systems the 'file' systems: upsert them, drop ones no longer in it. */
  replaceFileSystems (documents: Array<{ id: string }>): Promise<void>
  /** Hear of every change to the systems, made by any process. */
  onChange (listener: () => void): void
  close (): Promise<void>
}

/**
 * The environment a document sent over the API may reference: only HUB_SECRET_* variables, so
 * an admin key cannot read DATABASE_URL or anything else of the process through ${NAME}.
 */
export function apiEnv (env: Env): Env {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('HUB_SECRET_')))
}

/** Why an API document's `${NAME}` has no value: the same answer whether NAME is set or not. */
const apiMissing: Missing = name => name.startsWith('HUB_SECRET_')
  ? notSet(name)
  : `environment variable ${name} cannot be referenced: a document sent over the API may use only HUB_SECRET_* variables`

export async function systemRegistry (pool: Pool, env: Env, log: Logger): Promise<SystemRegistry> {
  let cache: { systems: Map<string, SystemConfig>, stored: StoredSystem[] } | undefined
  // This registry's share of the secrets every log line and stored message is redacted of.
  const owner = {}
  let loadedAt = 0
  const invalidate = () => { cache = undefined }
  const changeListeners: Array<() => void> = []
  // After a lost connection the listener reconnects and reports a change: one may have been missed.
  const listener = await listen(pool, CHANNEL, () => {
    invalidate()
    for (const fn of changeListeners) fn()
  }, log)

  let loading: Promise<NonNullable<typeof cache>> | undefined
  async function load (): Promise<NonNullable<typeof cache>> {
    if (cache && Date.now() - loadedAt < CACHE_MS) return cache
    // Callers arriving while the cache is being filled share that one read: after an expiry a
    // burst of webhooks would otherwise each query and parse every system, and drain the pool.
    return await (loading ??= read().finally(() => { loading = undefined }))
  }

  async function read (): Promise<NonNullable<typeof cache>> {
    const { rows } = await pool.query<StoredSystem>('SELECT id, document, source FROM hub.systems ORDER BY id')
    const systems = new Map<string, SystemConfig>()
    const secrets: string[] = []
    for (const row of rows) {
      const rowEnv = row.source === 'file' ? env : apiEnv(env)
      const parsed = parseSystem(row.document, rowEnv, row.source === 'file' ? undefined : apiMissing)
      // A document valid where it was stored can still miss an ${ENV} in this process.
      if (!parsed.ok) {
        log.error({ system: row.id, errors: parsed.errors }, 'system config unusable in this process; skipped')
        row.unusable = parsed.errors
        continue
      }
      systems.set(row.id, parsed.system)
      secrets.push(...secretsOf(parsed.system, row.document, rowEnv))
    }
    setSecrets(owner, secrets)
    cache = { systems, stored: rows }
    loadedAt = Date.now()
    return cache
  }
  return {
    async get (id) { return (await load()).systems.get(id) },
    async all () { return [...(await load()).systems.values()] },
    async documents () { return (await load()).stored },
    check: document => parseSystem(document, apiEnv(env), apiMissing),
    async put (id, document, source) {
      await pool.query(UPSERT, [id, JSON.stringify(hashWebhookKeys(document)), source])
      await pool.query(NOTIFY)
      invalidate()
    },
    async remove (id) {
      const removed = await inTransaction(pool, async client => {
        const { rows } = await client.query('DELETE FROM hub.systems WHERE id = $1 RETURNING id', [id])
        await forgetPolls(client, rows.map(r => r.id))
        await client.query(NOTIFY)
        return rows.length > 0
      })
      invalidate()
      return removed
    },
    async replaceFileSystems (documents) {
      await inTransaction(pool, async client => {
        const { rows } = await client.query("DELETE FROM hub.systems WHERE source = 'file' AND NOT (id = ANY($1)) RETURNING id", [documents.map(d => d.id)])
        await forgetPolls(client, rows.map(r => r.id))
        for (const doc of documents) {
          await client.query(UPSERT, [doc.id, JSON.stringify(hashWebhookKeys(doc)), 'file'])
        }
        await client.query(NOTIFY)
      })
      invalidate()
    },
    onChange (fn) { changeListeners.push(fn) },
    async close () {
      await listener.close()
      dropSecrets(owner)
    }
  }
}

/** The enabled flow of a system for a type, direction and (when given) action. */
export function findFlow (system: SystemConfig, type: DataType, direction: Flow['direction'], action?: Action): Flow | undefined {
  return system.flows.find(f => f.enabled && f.type === type && f.direction === direction && (!action || f.actions.includes(action)))
}

const scopesOf = new WeakMap<SystemConfig, string[]>()

/** An id sent for this action must be fetched: only a delete needs no `get`. */
const fetchable = (system: SystemConfig, type: DataType, action: Action) => action === 'delete' || Boolean(system.types[type]?.get)

/**
 * Scopes a system may post to the hub (and a manual sync may name): `<type>/<action>` of its
 * enabled inbound flows, but a create or update only of a type it has a `get` for. A flow
 * that polls with `fullRecords` needs none, yet an id sent alone could never be fetched.
 */
export function inboundScopes (system: SystemConfig): string[] {
  let scopes = scopesOf.get(system)
  if (!scopes) {
    scopes = system.flows.filter(f => f.enabled && f.direction === 'inbound')
      .flatMap(f => f.actions.filter(a => fetchable(system, f.type, a)).map(a => `${f.type}/${a}`))
    scopesOf.set(system, scopes)
  }
  return scopes
}

/** Why a scope that has an inbound flow is refused all the same; undefined when that is not why. */
export function unfetchable (system: SystemConfig, type: DataType, action: Action): string | undefined {
  return findFlow(system, type, 'inbound', action) && !fetchable(system, type, action)
    ? `${system.id} has no types.${type}.get, so a ${type} cannot be fetched by id (its poll lists whole records)`
    : undefined
}
