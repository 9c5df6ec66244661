// The fault-injection suite's shared parts: hub processes started from a systems config of the
// test's own, a source system serving generated customers, destinations that count every record
// they create (so a lost or duplicated delivery shows as a number), webhooks, and counts read
// from the database. Everything is real: child processes, PostgreSQL, HTTP on 127.0.0.1.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { testDatabase } from '../helpers/db.ts'
import { startHttpServer } from '../helpers/http.ts'
import { waitFor } from '../helpers/pipeline.ts'
import { startHubProcess } from '../helpers/process.ts'
import type { HubProcess } from '../helpers/process.ts'

export const ADMIN_KEY = 'reliability-admin-key-0123456789'
export const HOOK_KEY = 'reliability-hook-key-0123456789'
export const adminAuth = { authorization: `Bearer ${ADMIN_KEY}` }

export const emailOf = (id: string) => `c${id}@example.com`
/** Ids `${prefix}1` … `${prefix}n`. */
export const ids = (n: number, prefix = '') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`)

/**
 * A source system: GET /customers/:id answers a customer generated from the id, so any id a
 * webhook names can be fetched.
 */
export async function startSource (t: Test) {
  return await startHttpServer(t, (req, res) => {
    const m = /^\/customers\/([^/?]+)$/.exec(req.url)
    if (!m) return void res.writeHead(404).end()
    const id = decodeURIComponent(m[1])
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, email: emailOf(id), last_name: `Customer ${id}` }))
  })
}

export interface Destination {
  url: string
  /** Records created, by email: a value above 1 is a duplicate. */
  created: Map<string, number>
  /** Creates answered with an earlier create's record because they repeated its idempotency key. */
  replays: number
  /** Requests refused while down. */
  refused: number
  /** Answer 503 to everything while true. */
  down: boolean
  /** Called with each new record after it is stored, before the answer is sent. */
  onCreate?: (email: string) => void
  /** Records created so far (distinct emails). */
  readonly delivered: number
  /** Emails created more than once. */
  duplicates (): string[]
}

/**
 * A destination for customers: POST /customers creates (a new record every time, as most APIs
 * do: it never de-duplicates by email), PUT /customers/:id updates, GET /customers?email= looks
 * up. With `idempotencyHeader`, a create repeating an earlier create's key gets that create's
 * record back instead of a new one.
 */
export async function startDestination (t: Test, opts: { idempotencyHeader?: string } = {}): Promise<Destination> {
  const records = new Map<string, { id: string, email: string }>()
  const byKey = new Map<string, { id: string, email: string }>()
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  const dest: Destination = {
    url: '',
    created: new Map(),
    replays: 0,
    refused: 0,
    down: false,
    get delivered () { return dest.created.size },
    duplicates: () => [...dest.created].filter(([, n]) => n > 1).map(([email]) => email)
  }
  const server = await startHttpServer(t, (req, res) => {
    if (dest.down) {
      dest.refused++
      return void json(res, 503, { error: 'down for maintenance' })
    }
    const url = new URL(req.url, 'http://x')
    if (req.method === 'GET' && url.pathname === '/customers') {
      const email = url.searchParams.get('email')
      return void json(res, 200, { customers: [...records.values()].filter(r => r.email === email) })
    }
    if (req.method === 'POST' && url.pathname === '/customers') {
      const key = opts.idempotencyHeader ? req.headers[opts.idempotencyHeader.toLowerCase()] as string | undefined : undefined
      const earlier = key ? byKey.get(key) : undefined
      if (earlier) {
        dest.replays++
        return void json(res, 201, earlier)
      }
      const { email } = JSON.parse(req.body) as { email: string }
      const record = { id: String(records.size + 1), email }
      records.set(record.id, record)
      if (key) byKey.set(key, record)
      dest.created.set(email, (dest.created.get(email) ?? 0) + 1)
      dest.onCreate?.(email)
      return void json(res, 201, record)
    }
    const m = /^\/customers\/([^/]+)$/.exec(url.pathname)
    if (req.method === 'PUT' && m) {
      const record = records.get(m[1])
      return void (record ? json(res, 200, record) : json(res, 404, { error: 'not found' }))
    }
    json(res, 404, { error: 'not found' })
  })
  dest.url = server.url
  return dest
}

/** A source system's config: webhooks with HOOK_KEY, customers fetched from `url`. */
export function sourceSystem (id: string, url: string) {
  return {
    id,
    baseUrl: url,
    allowPrivateNetwork: true,
    webhooks: { keys: [HOOK_KEY] },
    throttle: { maxConcurrent: 16 },
    types: { customer: { get: { path: '/customers/{id}' } } },
    flows: [{
      type: 'customer',
      direction: 'inbound',
      mappings: [
        { kind: 'field', from: 'email', to: 'email_address' },
        { kind: 'field', from: 'last_name', to: 'last_name' }
      ]
    }]
  }
}

/**
 * A destination's config. Without `lookup` only an idempotency key (`idempotencyHeader`) can
 * keep a rerun from creating the record twice; with it, a rerun finds its own earlier create.
 */
export function destinationSystem (id: string, url: string, opts: { lookup?: boolean, idempotencyHeader?: string, extra?: Record<string, unknown> } = {}) {
  return {
    id,
    baseUrl: url,
    allowPrivateNetwork: true,
    throttle: { maxConcurrent: 8 },
    ...(opts.idempotencyHeader ? { idempotency: { header: opts.idempotencyHeader } } : {}),
    types: {
      customer: {
        create: { path: '/customers', idPath: 'id' },
        update: { path: '/customers/{id}' },
        ...(opts.lookup ? { lookup: { path: '/customers?email={email}', field: 'email', resultPath: 'customers', idPath: 'id' } } : {})
      }
    },
    flows: [{
      type: 'customer',
      direction: 'outbound',
      actions: ['create', 'update'],
      mappings: [
        { kind: 'field', from: 'email_address', to: 'email' },
        { kind: 'field', from: 'last_name', to: 'name' }
      ]
    }],
    ...opts.extra
  }
}

/** Write `{systems}` to a config file of its own (JSON, read as such by its extension), removed when the test ends. */
export async function writeConfig (t: Test, systems: object[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hub-faults-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'hub.config.json')
  await writeFile(file, JSON.stringify({ systems }))
  return file
}

export type Role = 'api' | 'worker' | 'all'

/** `node src/server.ts` in `role` against `databaseUrl` with the systems of `config`. */
export async function startHub (t: Test, databaseUrl: string, config: string, role: Role = 'all', env: Record<string, string> = {}): Promise<HubProcess> {
  return await startHubProcess(t, {
    DATABASE_URL: databaseUrl,
    HUB_ADMIN_KEY: ADMIN_KEY,
    HUB_CONFIG: config,
    HUB_ROLE: role,
    HUB_SHUTDOWN_GRACE_MS: '1000',
    ...env
  })
}

/** The process has neither exited nor been killed. */
export const alive = (hub: HubProcess) => hub.child.exitCode === null && hub.child.signalCode === null

/** Resident memory of a process in MB, from /proc. */
export async function rssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024
}

export interface Answer { status: number, retryAfter: string | null, body: string }

/**
 * POST webhook events; a request without an answer within `timeoutMs` (a hang) is status 0,
 * a refused connection -1.
 */
export async function postHook (url: string, system: string, events: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<Answer> {
  try {
    const res = await fetch(`${url}/v1/hooks/${system}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${HOOK_KEY}`, ...headers },
      body: typeof events === 'string' ? events : JSON.stringify(events),
      signal: AbortSignal.timeout(timeoutMs)
    })
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() }
  } catch (err) {
    return { status: (err as Error).name === 'TimeoutError' ? 0 : -1, retryAfter: null, body: String(err) }
  }
}

/** `{scope: 'customer/update', id}` for each id. */
export const events = (list: string[]) => list.map(id => ({ scope: 'customer/update', id }))

/** A client on the test's database for counting, closed when the test ends. */
export async function counter (t: Test, databaseUrl: string) {
  const db = new pg.Client(databaseUrl)
  await db.connect()
  t.teardown(() => db.end())
  const one = async (sql: string, params: unknown[] = []) => (await db.query<{ n: number }>(sql, params)).rows[0].n
  return {
    db,
    /** Every pgboss job row, whatever its queue or state. */
    jobs: () => one('SELECT count(*)::int AS n FROM pgboss.job'),
    /** Pipeline jobs not finished yet, and webhooks not yet jobs (hub.queue_depth). */
    pending: () => one("SELECT coalesce(sum(jobs), 0)::int AS n FROM hub.queue_depth WHERE queue IN ('inbound', 'outbound')"),
    /** Jobs in a final failed state, and the error log: what an admin would have to replay. */
    deadLettered: () => one("SELECT (SELECT count(*) FROM pgboss.job WHERE name IN ('inbound', 'outbound') AND state = 'failed') + (SELECT count(*) FROM hub.errors) AS n"),
    /** Distinct source ids of `system` that have an inbound job, or wait in the webhook backlog. */
    queuedIds: async (system: string) => new Set((await db.query<{ id: string }>(
      `SELECT data->>'id' AS id FROM pgboss.job WHERE name = 'inbound' AND data->>'system' = $1
       UNION SELECT record_id FROM hub.hook_backlog WHERE system_id = $1`, [system])).rows.map(r => r.id)),
    /** Canonical records linked to `system` (fetched from it). */
    records: (system: string) => one('SELECT count(*)::int AS n FROM hub.links WHERE system_id = $1', [system])
  }
}

/**
 * A shop source and two destinations on a fresh database: the CRM with a lookup (a rerun finds
 * its own earlier create), the ERP with only the idempotency key the hub sends with every create.
 */
export async function shopToCrmAndErp (t: Test) {
  const databaseUrl = await testDatabase(t)
  const source = await startSource(t)
  const crm = await startDestination(t)
  const erp = await startDestination(t, { idempotencyHeader: 'Idempotency-Key' })
  const config = await writeConfig(t, [
    sourceSystem('shop', source.url),
    destinationSystem('crm', crm.url, { lookup: true }),
    destinationSystem('erp', erp.url, { idempotencyHeader: 'Idempotency-Key' })
  ])
  const count = await counter(t, databaseUrl)
  return { databaseUrl, source, crm, erp, config, count }
}

/** Wait for every record at both destinations, then check none arrived twice and nothing is dead-lettered. */
export async function deliveredOnce (t: Test, { crm, erp, count }: Pick<Awaited<ReturnType<typeof shopToCrmAndErp>>, 'crm' | 'erp' | 'count'>, records: number): Promise<void> {
  await waitFor(() => crm.delivered + erp.delivered === 2 * records, 120_000, 'every record at both destinations')
  await waitFor(async () => await count.pending() === 0, 60_000, 'the pipeline to settle')
  t.equal(crm.delivered, records, `CRM: all ${records} records`)
  t.equal(erp.delivered, records, `ERP: all ${records} records`)
  t.same(crm.duplicates(), [], 'CRM: none twice')
  t.same(erp.duplicates(), [], 'ERP: none twice')
  t.equal(await count.deadLettered(), 0, 'nothing dead-lettered')
}
