// Shared machinery for the sandbox systems: a real Fastify server with an in-memory store,
// a call log, fault injection, auth, webhook emission and a programmatic control API.
// Each system (shop, crm, erp) only adds its auth rule, id format and HTTP routes.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export type RecordType = 'customer' | 'product' | 'order'
export const RECORD_TYPES: readonly RecordType[] = ['customer', 'product', 'order']
export const COLLECTIONS: Record<RecordType, string> = {
  customer: 'customers',
  product: 'products',
  order: 'orders',
}

// Records are free-form on purpose: each system has its own shape and tests may put odd ones.
export type SandboxRecord = { id: string; createdAt: string; updatedAt: string; [field: string]: any }

export type Action = 'create' | 'update' | 'delete'

export interface CallRecord {
  method: string
  path: string // without the query string
  url: string // with the query string
  query: Record<string, unknown>
  body: unknown
  headers: Record<string, string | string[] | undefined>
  status?: number // set once the response has been sent
  at: number // Date.now() when the request arrived (benchmarks measure delivery latency)
}

export interface CallFilter {
  method?: string
  pathPrefix?: string
}

export interface FailOptions extends CallFilter {
  retryAfterSeconds?: number
  body?: unknown
}

export interface EmitTarget {
  url: string
  key?: string
  headers?: Record<string, string>
  scopePrefix?: string // prepended to every scope, e.g. 'erp:' → 'erp:customer/update'
}

export interface WebhookEvent {
  scope: string
  id: string
}

export interface StartOptions {
  port?: number
  host?: string
  // post arrays of events instead of one request per change (benchmarks)
  batchWebhooks?: boolean
  // also emit webhooks for changes made through the system's own HTTP API
  webhooksOnApiWrites?: boolean
}

export interface FakeSystem {
  readonly name: string
  readonly url: string
  close(): Promise<void>

  // control API; every change emits a webhook when emitTo is set
  put(type: RecordType, record: Record<string, unknown>): SandboxRecord
  patch(type: RecordType, id: string, fields: Record<string, unknown>): SandboxRecord
  remove(type: RecordType, id: string): boolean
  get(type: RecordType, id: string): SandboxRecord | undefined
  all(type: RecordType): SandboxRecord[]

  calls(filter?: CallFilter): CallRecord[]
  resetCalls(): void

  failNext(n: number, status: number, opts?: FailOptions): void
  hangNext(n: number, ms: number, filter?: CallFilter): void
  latency(ms: number): void
  clearFaults(): void

  emitTo(target: EmitTarget | null): void
  flushWebhooks(): Promise<void>
  readonly emitted: number // webhook requests sent (batched posts count once per request)
  readonly maxInFlight: number // most requests being handled at once since start (throttle tests)
  readonly emitErrors: number // webhook requests that failed (network error or non-2xx)
}

export interface SystemDefinition {
  name: string
  // true when the request carries valid credentials
  authorize(req: FastifyRequest): boolean
  // extra headers for the 401 answer (e.g. WWW-Authenticate)
  unauthorizedHeaders?: Record<string, string>
  newId(type: RecordType, seq: number): string
  // the system's routes; `sys` gives them the store and the emitting write helpers
  routes(app: FastifyInstance, sys: SystemInternals): void
  webhooksOnApiWrites?: boolean
}

// What route code uses: writes that stamp timestamps and emit webhooks when configured.
export interface SystemInternals {
  store: Store
  create(type: RecordType, fields: Record<string, unknown>, via: 'api' | 'control'): SandboxRecord
  replace(type: RecordType, id: string, fields: Record<string, unknown>, via: 'api' | 'control'): SandboxRecord
  merge(type: RecordType, id: string, fields: Record<string, unknown>, via: 'api' | 'control'): SandboxRecord | undefined
  delete(type: RecordType, id: string, via: 'api' | 'control'): boolean
}

export const clone = <T>(v: T): T => structuredClone(v)

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

// Timestamps must be strictly increasing per change (clients page by updatedAt), so the clock
// moves at least one millisecond forward per tick. It may run ahead of wall time during bursts,
// which is the safe direction for "modified since" polling.
export class MonotonicClock {
  #last = 0
  now(): string {
    this.#last = Math.max(Date.now(), this.#last + 1)
    return new Date(this.#last).toISOString()
  }
}

export type ChangeListener = (type: RecordType, before: SandboxRecord | undefined, after: SandboxRecord | undefined) => void

// One Map per collection. A changed record is deleted and re-inserted, so iteration order is
// always updatedAt order (the clock is strictly increasing): listing needs no sort.
export class Store {
  #maps = new Map<RecordType, Map<string, SandboxRecord>>(RECORD_TYPES.map((t) => [t, new Map()]))
  #seq = new Map<RecordType, number>(RECORD_TYPES.map((t) => [t, 0]))
  #clock = new MonotonicClock()
  #listeners: ChangeListener[] = []
  #newId: (type: RecordType, seq: number) => string

  constructor(newId: (type: RecordType, seq: number) => string) {
    this.#newId = newId
  }

  onChange(fn: ChangeListener): void {
    this.#listeners.push(fn)
  }

  #map(type: RecordType): Map<string, SandboxRecord> {
    const m = this.#maps.get(type)
    if (!m) throw new Error(`unknown record type: ${String(type)}`)
    return m
  }

  nextId(type: RecordType): string {
    const m = this.#map(type)
    for (;;) {
      const seq = (this.#seq.get(type) ?? 0) + 1
      this.#seq.set(type, seq)
      const id = this.#newId(type, seq)
      if (!m.has(id)) return id // ids put explicitly by tests may already occupy a slot
    }
  }

  get(type: RecordType, id: string): SandboxRecord | undefined {
    return this.#map(type).get(id)
  }

  has(type: RecordType, id: string): boolean {
    return this.#map(type).has(id)
  }

  values(type: RecordType): IterableIterator<SandboxRecord> {
    return this.#map(type).values()
  }

  count(type: RecordType): number {
    return this.#map(type).size
  }

  // Writes the full record (fields beyond id/createdAt/updatedAt) and stamps timestamps.
  write(type: RecordType, id: string, fields: Record<string, unknown>): { record: SandboxRecord; created: boolean } {
    const m = this.#map(type)
    const before = m.get(id)
    const now = this.#clock.now()
    const createdAt = before?.createdAt ?? (typeof fields.createdAt === 'string' ? fields.createdAt : now)
    const record: SandboxRecord = { ...clone(fields), id, createdAt, updatedAt: now }
    m.delete(id)
    m.set(id, record)
    for (const fn of this.#listeners) fn(type, before, record)
    return { record, created: !before }
  }

  delete(type: RecordType, id: string): boolean {
    const m = this.#map(type)
    const before = m.get(id)
    if (!before) return false
    m.delete(id)
    for (const fn of this.#listeners) fn(type, before, undefined)
    return true
  }
}

// Sleeps that close() can cut short, so a hanging request never holds the server open.
class Sleeper {
  #pending = new Set<() => void>()
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#pending.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#pending.add(done)
    })
  }
  wakeAll(): void {
    for (const done of [...this.#pending]) done()
  }
}

interface FaultRule extends CallFilter {
  remaining: number
  status?: number
  retryAfterSeconds?: number
  body?: unknown
  ms?: number
}

function matches(call: { method: string; path: string }, f: CallFilter): boolean {
  if (f.method && f.method.toUpperCase() !== call.method) return false
  if (f.pathPrefix && !call.path.startsWith(f.pathPrefix)) return false
  return true
}

// Takes one use of the first matching rule with uses left.
function takeRule(rules: FaultRule[], call: { method: string; path: string }): FaultRule | undefined {
  const i = rules.findIndex((r) => r.remaining > 0 && matches(call, r))
  if (i < 0) return undefined
  const rule = rules[i]!
  rule.remaining--
  if (rule.remaining === 0) rules.splice(i, 1)
  return rule
}

const WEBHOOK_TIMEOUT_MS = 10_000
const MAX_BATCH = 1000

export async function startFakeSystem(def: SystemDefinition, opts: StartOptions = {}): Promise<FakeSystem> {
  const store = new Store(def.newId)
  const log: CallRecord[] = []
  let inFlight = 0
  let maxInFlight = 0
  const failRules: FaultRule[] = []
  const hangRules: FaultRule[] = []
  let constantLatency = 0
  const sleeper = new Sleeper()

  // --- webhooks ---
  let target: EmitTarget | null = null
  let emitted = 0
  let emitErrors = 0
  const inflight = new Set<Promise<void>>()
  const batch: WebhookEvent[] = []
  let batchScheduled = false
  const closing = new AbortController()
  const emitOnApi = opts.webhooksOnApiWrites ?? def.webhooksOnApiWrites ?? false

  function post(payload: WebhookEvent | WebhookEvent[]): void {
    const to = target
    if (!to) return
    emitted++
    const p = fetch(to.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(to.key ? { authorization: `Bearer ${to.key}` } : {}),
        ...to.headers,
      },
      body: JSON.stringify(payload),
      signal: AbortSignal.any([closing.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
    })
      .then(async (res) => {
        await res.arrayBuffer() // drain so the connection can be reused
        if (!res.ok) emitErrors++
      })
      // the receiver being down must never take the system down with it
      .catch(() => {
        emitErrors++
      })
      .finally(() => {
        inflight.delete(p)
      })
    inflight.add(p)
  }

  function drainBatch(): void {
    batchScheduled = false
    while (batch.length) post(batch.splice(0, MAX_BATCH))
  }

  function emit(type: RecordType, action: Action, id: string): void {
    if (!target) return
    const event = { scope: `${target.scopePrefix ?? ''}${type}/${action}`, id }
    if (!opts.batchWebhooks) return post(event)
    batch.push(event)
    if (!batchScheduled) {
      batchScheduled = true
      setImmediate(drainBatch)
    }
  }

  const shouldEmit = (via: 'api' | 'control') => via === 'control' || emitOnApi

  // --- writes shared by routes and the control API ---
  const internals: SystemInternals = {
    store,
    create(type, fields, via) {
      const { record } = store.write(type, store.nextId(type), fields)
      if (shouldEmit(via)) emit(type, 'create', record.id)
      return record
    },
    replace(type, id, fields, via) {
      const { record, created } = store.write(type, id, fields)
      if (shouldEmit(via)) emit(type, created ? 'create' : 'update', id)
      return record
    },
    merge(type, id, fields, via) {
      const before = store.get(type, id)
      if (!before) return undefined
      const { record } = store.write(type, id, { ...before, ...fields })
      if (shouldEmit(via)) emit(type, 'update', id)
      return record
    },
    delete(type, id, via) {
      const existed = store.delete(type, id)
      if (existed && shouldEmit(via)) emit(type, 'delete', id)
      return existed
    },
  }

  // --- server ---
  const app = Fastify({ logger: false, forceCloseConnections: true })

  // Tolerate empty JSON bodies (clients often send content-type on DELETE/GET).
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(null, undefined)
    try {
      done(null, JSON.parse(body as string))
    } catch {
      const err = new Error('body is not valid JSON') as Error & { statusCode: number }
      err.statusCode = 400
      done(err, undefined)
    }
  })

  const callOf = new WeakMap<FastifyRequest, CallRecord>()

  // Runs after body parsing so the log holds the body; faults come before auth so they apply
  // to any client, as a broken proxy or overloaded upstream would.
  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0]!
    const call: CallRecord = {
      method: req.method,
      path,
      url: req.url,
      query: { ...(req.query as Record<string, unknown>) },
      body: req.body === undefined ? null : clone(req.body),
      headers: { ...req.headers },
      at: Date.now(),
    }
    log.push(call)
    callOf.set(req, call)
    maxInFlight = Math.max(maxInFlight, ++inFlight)

    await sleeper.sleep(constantLatency)
    const hang = takeRule(hangRules, call)
    if (hang) await sleeper.sleep(hang.ms ?? 0)

    const fail = takeRule(failRules, call)
    if (fail) {
      if (fail.retryAfterSeconds !== undefined) reply.header('retry-after', String(fail.retryAfterSeconds))
      return reply.code(fail.status!).send(fail.body ?? { error: `injected failure (${fail.status})` })
    }

    if (!def.authorize(req)) {
      if (def.unauthorizedHeaders) reply.headers(def.unauthorizedHeaders)
      return reply.code(401).send({ error: 'unauthorized' })
    }
  })

  app.addHook('onResponse', async (req, reply) => {
    const call = callOf.get(req)
    if (call) {
      call.status = reply.statusCode
      inFlight--
    }
  })

  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).send({ error: 'not found' })
  })

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    reply.code(status).send({ error: status === 500 ? 'internal error' : err.message })
  })

  def.routes(app, internals)

  await app.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' })
  const addr = app.server.address()
  if (!addr || typeof addr === 'string') throw new Error(`${def.name}: unexpected listen address`)
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `http://${host}:${addr.port}`

  async function flushWebhooks(): Promise<void> {
    // new posts can start while we wait (batches scheduled, retries by callers), so loop
    while (inflight.size || batch.length) {
      if (batch.length) drainBatch()
      await Promise.all([...inflight])
    }
  }

  const copyOf = (r: SandboxRecord | undefined) => (r ? clone(r) : undefined)

  return {
    name: def.name,
    url,
    async close() {
      sleeper.wakeAll()
      closing.abort()
      await app.close()
      await Promise.all([...inflight])
    },

    put(type, record) {
      const id = typeof record.id === 'string' && record.id ? record.id : store.nextId(type)
      return clone(internals.replace(type, id, record, 'control'))
    },
    patch(type, id, fields) {
      const r = internals.merge(type, id, fields, 'control')
      if (!r) throw new Error(`${def.name}: no ${type} with id ${id}`)
      return clone(r)
    },
    remove: (type, id) => internals.delete(type, id, 'control'),
    get: (type, id) => copyOf(store.get(type, id)),
    all: (type) => [...store.values(type)].map(clone),

    calls: (filter = {}) => log.filter((c) => matches(c, filter)),
    resetCalls() {
      log.length = 0
    },

    failNext(n, status, o = {}) {
      if (n > 0) failRules.push({ ...o, remaining: n, status })
    },
    hangNext(n, ms, filter = {}) {
      if (n > 0) hangRules.push({ ...filter, remaining: n, ms })
    },
    latency(ms) {
      constantLatency = ms
    },
    clearFaults() {
      failRules.length = 0
      hangRules.length = 0
      constantLatency = 0
    },

    emitTo(t) {
      target = t
    },
    flushWebhooks,
    get maxInFlight() {
      return maxInFlight
    },
    get emitted() {
      return emitted
    },
    get emitErrors() {
      return emitErrors
    },
  }
}

// --- helpers for route code ---

export function notFound(reply: FastifyReply) {
  return reply.code(404).send({ error: 'not found' })
}

export function badRequest(reply: FastifyReply, message: string, status = 400) {
  return reply.code(status).send({ error: message })
}

// Reads a positive integer query parameter; undefined → fallback, junk → error message.
export function intParam(raw: unknown, name: string, fallback: number, max: number): number | string {
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) return `${name} must be a positive integer`
  return Math.min(n, max)
}

// Parses an ISO timestamp query parameter into epoch ms; undefined → -Infinity.
export function sinceParam(raw: unknown, name: string): number | string {
  if (raw === undefined || raw === '') return -Infinity
  const ms = typeof raw === 'string' ? Date.parse(raw) : NaN
  return Number.isNaN(ms) ? `${name} must be an ISO date` : ms
}

// Records of a type changed strictly after `sinceMs`, in updatedAt order.
export function* changedSince(store: Store, type: RecordType, sinceMs: number): Generator<SandboxRecord> {
  for (const r of store.values(type)) if (Date.parse(r.updatedAt) > sinceMs) yield r
}

export interface CrudOptions {
  location?: boolean // answer POST with a Location header
  deletable?: boolean // DELETE removes (204) instead of being absent from the API
  // system-specific defaults for a new record (e.g. an ERP customer number)
  onCreate?: (fields: Record<string, unknown>, id: string) => Record<string, unknown>
}

// GET one, POST (create, 201), PUT (merge, 404 when missing) and optionally DELETE for one
// collection — the part of a REST API that the shop and the ERP have in common.
export function crudRoutes(app: FastifyInstance, sys: SystemInternals, type: RecordType, base: string, o: CrudOptions = {}): void {
  type ById = { Params: { id: string } }

  app.get<ById>(`${base}/:id`, async (req, reply) => {
    const r = sys.store.get(type, req.params.id)
    return r ?? notFound(reply)
  })

  app.post(base, async (req, reply) => {
    if (!isObject(req.body)) return badRequest(reply, 'body must be a JSON object')
    const { id: _ignored, ...fields } = req.body
    const id = sys.store.nextId(type)
    const record = sys.replace(type, id, o.onCreate ? o.onCreate(fields, id) : fields, 'api')
    if (o.location) reply.header('location', `${base}/${encodeURIComponent(record.id)}`)
    return reply.code(201).send(record)
  })

  app.put<ById>(`${base}/:id`, async (req, reply) => {
    if (!isObject(req.body)) return badRequest(reply, 'body must be a JSON object')
    return sys.merge(type, req.params.id, req.body, 'api') ?? notFound(reply)
  })

  if (o.deletable) {
    app.delete<ById>(`${base}/:id`, async (req, reply) => {
      return sys.delete(type, req.params.id, 'api') ? reply.code(204).send() : notFound(reply)
    })
  }
}
