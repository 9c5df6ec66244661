// Shared machinery for the sandbox systems: a real Fastify server with an in-memory store,
// a call log, fault injection, auth, webhook emission and a programmatic control API.
// Each system (shop, crm, erp) only adds its auth rule, id format and HTTP routes.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { matches, Sleeper, takeRule } from './faults.ts'
import type { CallFilter, CallRecord, FailOptions, FaultRule } from './faults.ts'
import { clone, Store } from './store.ts'
import type { RecordType, SandboxRecord } from './store.ts'
import { WebhookEmitter } from './webhooks.ts'
import type { EmitTarget } from './webhooks.ts'

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

export async function startFakeSystem(def: SystemDefinition, opts: StartOptions = {}): Promise<FakeSystem> {
  const store = new Store(def.newId)
  const log: CallRecord[] = []
  let inFlight = 0
  let maxInFlight = 0
  const failRules: FaultRule[] = []
  const hangRules: FaultRule[] = []
  let constantLatency = 0
  const sleeper = new Sleeper()

  const webhooks = new WebhookEmitter(opts.batchWebhooks ?? false)
  const emitOnApi = opts.webhooksOnApiWrites ?? def.webhooksOnApiWrites ?? false
  const shouldEmit = (via: 'api' | 'control') => via === 'control' || emitOnApi

  // --- writes shared by routes and the control API ---
  const internals: SystemInternals = {
    store,
    create(type, fields, via) {
      const { record } = store.write(type, store.nextId(type), fields)
      if (shouldEmit(via)) webhooks.emit(type, 'create', record.id)
      return record
    },
    replace(type, id, fields, via) {
      const { record, created } = store.write(type, id, fields)
      if (shouldEmit(via)) webhooks.emit(type, created ? 'create' : 'update', id)
      return record
    },
    merge(type, id, fields, via) {
      const before = store.get(type, id)
      if (!before) return undefined
      const { record } = store.write(type, id, { ...before, ...fields })
      if (shouldEmit(via)) webhooks.emit(type, 'update', id)
      return record
    },
    delete(type, id, via) {
      const existed = store.delete(type, id)
      if (existed && shouldEmit(via)) webhooks.emit(type, 'delete', id)
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

  const copyOf = (r: SandboxRecord | undefined) => (r ? clone(r) : undefined)

  return {
    name: def.name,
    url,
    async close() {
      sleeper.wakeAll()
      webhooks.abort()
      await app.close()
      await webhooks.settled()
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
      webhooks.target = t
    },
    flushWebhooks: () => webhooks.flush(),
    get maxInFlight() {
      return maxInFlight
    },
    get emitted() {
      return webhooks.emitted
    },
    get emitErrors() {
      return webhooks.emitErrors
    },
  }
}
