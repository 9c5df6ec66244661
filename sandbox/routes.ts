// Helpers for the systems' route code: error answers, query parameters, and the CRUD routes
// the shop and the ERP have in common.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { SystemInternals } from './fake-system.ts'
import type { RecordType, SandboxRecord, Store } from './store.ts'

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

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
