// The CRM: a destination modelled on seed 003 (Stamped.io). Customers only; de-duplicates by
// email on create, merges only the fields sent on update, has no delete, and changes the
// subscription flag only through dedicated follow-up calls.
import { startFakeSystem } from './fake-system.ts'
import type { FakeSystem, StartOptions, SystemInternals } from './fake-system.ts'
import { badRequest, isObject, notFound } from './routes.ts'
import type { SandboxRecord } from './store.ts'

export interface CrmOptions extends StartOptions {
  apiKey?: string // value of the x-api-key header clients must send (default 'crm-key')
}

export type Crm = FakeSystem & {
  findByEmail(email: string): SandboxRecord | undefined
}

// Fields clients may write. `subscribed` is deliberately absent: like Stamped.io, it only
// changes through /subscriptions/*, which is what makes the hub's follow-up call necessary.
const WRITABLE = ['email', 'firstName', 'lastName', 'notes', 'externalId'] as const
const DEFAULTS = { firstName: null, lastName: null, notes: null, externalId: null, subscribed: false }

const validEmail = (v: unknown): v is string => typeof v === 'string' && v.includes('@')

// Picks the writable fields present in the body; an error message when one has the wrong type.
function pickFields(body: Record<string, unknown>): Record<string, unknown> | string {
  const out: Record<string, unknown> = {}
  for (const f of WRITABLE) {
    if (!(f in body)) continue
    const v = body[f]
    if (f === 'email') {
      if (!validEmail(v)) return 'email is required'
    } else if (v !== null && typeof v !== 'string') {
      return `${f} must be a string or null`
    }
    out[f] = v
  }
  return out
}

export async function startCrm(opts: CrmOptions = {}): Promise<Crm> {
  const apiKey = opts.apiKey ?? 'crm-key'
  // lower-cased email → customer id, kept in step with every write (API or control)
  const byEmail = new Map<string, string>()
  let internals: SystemInternals | undefined
  const lookup = (email: string) => {
    const id = byEmail.get(email.toLowerCase())
    return id === undefined ? undefined : internals?.store.get('customer', id)
  }

  const sys = await startFakeSystem(
    {
      name: 'crm',
      authorize: (req) => req.headers['x-api-key'] === apiKey,
      newId: (_type, seq) => String(143490 + seq),
      routes(app, s) {
        internals = s
        s.store.onChange((type, before, after) => {
          if (type !== 'customer') return
          const old = typeof before?.email === 'string' ? before.email.toLowerCase() : undefined
          if (old !== undefined && byEmail.get(old) === before!.id) byEmail.delete(old)
          if (typeof after?.email === 'string') byEmail.set(after.email.toLowerCase(), after.id)
        })

        app.post('/customers', async (req, reply) => {
          if (!isObject(req.body)) return badRequest(reply, 'body must be a JSON object')
          if (!validEmail(req.body.email)) return badRequest(reply, 'email is required', 422)
          const fields = pickFields(req.body)
          if (typeof fields === 'string') return badRequest(reply, fields, 422)
          const existing = lookup(req.body.email)
          if (existing) return s.merge('customer', existing.id, fields, 'api')
          return reply.code(201).send(s.create('customer', { ...DEFAULTS, ...fields }, 'api'))
        })

        app.put<{ Params: { id: string } }>('/customers/:id', async (req, reply) => {
          if (!isObject(req.body)) return badRequest(reply, 'body must be a JSON object')
          if (!s.store.has('customer', req.params.id)) return notFound(reply)
          const fields = pickFields(req.body)
          if (typeof fields === 'string') return badRequest(reply, fields, 422)
          if (typeof fields.email === 'string') {
            const other = lookup(fields.email)
            if (other && other.id !== req.params.id) return badRequest(reply, 'email is already used by another customer', 409)
          }
          return s.merge('customer', req.params.id, fields, 'api')
        })

        app.get<{ Params: { id: string } }>('/customers/:id', async (req, reply) => {
          return s.store.get('customer', req.params.id) ?? notFound(reply)
        })

        app.get<{ Querystring: { email?: string } }>('/customers', async (req) => {
          if (req.query.email === undefined) return { customers: [...s.store.values('customer')] }
          const found = lookup(req.query.email)
          return { customers: found ? [found] : [] }
        })

        app.delete('/customers/:id', async (_req, reply) => {
          return reply.code(405).header('allow', 'GET, PUT').send({ error: 'customers cannot be deleted' })
        })

        for (const action of ['subscribe', 'unsubscribe'] as const) {
          app.post(`/subscriptions/${action}`, async (req, reply) => {
            const email = isObject(req.body) ? req.body.email : undefined
            if (!validEmail(email)) return badRequest(reply, 'email is required', 422)
            const customer = lookup(email)
            if (!customer) return notFound(reply)
            s.merge('customer', customer.id, { subscribed: action === 'subscribe' }, 'api')
            return { ok: true }
          })
        }
      },
    },
    opts,
  )

  return Object.assign(sys, {
    findByEmail: (email: string) => {
      const r = lookup(email)
      return r ? structuredClone(r) : undefined
    },
  })
}
