// The ERP: full CRUD under /api, HTTP Basic auth, page-numbered listing. Two-way: changes made
// through its own HTTP API emit webhooks too, so a hub write comes back as a notification
// (the echo the hub must recognise as "nothing changed").
import { startFakeSystem } from './fake-system.ts'
import type { FakeSystem, StartOptions } from './fake-system.ts'
import { badRequest, changedSince, crudRoutes, intParam, sinceParam } from './routes.ts'
import type { RecordType, SandboxRecord } from './store.ts'

export interface ErpOptions extends StartOptions {
  username?: string // default 'erp'
  password?: string // default 'erp-pass'
}

export type Erp = FakeSystem

// ERP collection name → store type (and id prefix)
const ROUTES: { path: string; type: RecordType; prefix: string }[] = [
  { path: '/api/customers', type: 'customer', prefix: 'C' },
  { path: '/api/items', type: 'product', prefix: 'I' },
  { path: '/api/orders', type: 'order', prefix: 'O' },
]

export function startErp(opts: ErpOptions = {}): Promise<Erp> {
  const expected = `Basic ${Buffer.from(`${opts.username ?? 'erp'}:${opts.password ?? 'erp-pass'}`).toString('base64')}`
  let customerNo = 10000
  return startFakeSystem(
    {
      name: 'erp',
      authorize: (req) => req.headers.authorization === expected,
      unauthorizedHeaders: { 'www-authenticate': 'Basic realm="erp"' },
      newId: (type, seq) => `${ROUTES.find((r) => r.type === type)!.prefix}-${String(seq).padStart(4, '0')}`,
      webhooksOnApiWrites: true,
      routes(app, sys) {
        for (const { path, type } of ROUTES) {
          crudRoutes(app, sys, type, path, {
            location: true,
            deletable: true,
            // the ERP numbers its customers itself unless the client brings a number
            onCreate:
              type === 'customer'
                ? (fields) => ({ tags: [], ...fields, customerNo: fields.customerNo ?? String(++customerNo) })
                : undefined,
          })

          app.get<{ Querystring: { updated_after?: string; page?: string; pageSize?: string } }>(path, async (req, reply) => {
            const since = sinceParam(req.query.updated_after, 'updated_after')
            if (typeof since === 'string') return badRequest(reply, since)
            const page = intParam(req.query.page, 'page', 1, Number.MAX_SAFE_INTEGER)
            if (typeof page === 'string') return badRequest(reply, page)
            const pageSize = intParam(req.query.pageSize, 'pageSize', 50, 1000)
            if (typeof pageSize === 'string') return badRequest(reply, pageSize)
            const skip = (page - 1) * pageSize
            const data: SandboxRecord[] = []
            let seen = 0
            let hasMore = false
            for (const r of changedSince(sys.store, type, since)) {
              if (seen++ < skip) continue
              if (data.length === pageSize) {
                hasMore = true
                break
              }
              data.push(r)
            }
            return { data, page, hasMore }
          })
        }
      },
    },
    opts,
  )
}
