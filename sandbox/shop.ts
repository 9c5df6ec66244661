// The shop: the source system. Emits webhooks for changes made through the control API and
// serves a read API with incremental listing (modified_since + opaque cursor); it also accepts
// POST/PUT so it can act as a destination.
import { startFakeSystem } from './fake-system.ts'
import type { FakeSystem, StartOptions } from './fake-system.ts'
import { badRequest, changedSince, crudRoutes, intParam, sinceParam } from './routes.ts'
import { COLLECTIONS, RECORD_TYPES } from './store.ts'
import type { SandboxRecord } from './store.ts'

export interface ShopOptions extends StartOptions {
  token?: string // Bearer token clients must send (default 'shop-token')
}

export type Shop = FakeSystem

// The cursor is the (updatedAt, id) of the last item served; opaque to clients.
type Cursor = { u: string; i: string }
const encodeCursor = (r: SandboxRecord) => Buffer.from(JSON.stringify({ u: r.updatedAt, i: r.id })).toString('base64url')
function decodeCursor(raw: string): Cursor | undefined {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
    return typeof c?.u === 'string' && typeof c?.i === 'string' ? c : undefined
  } catch {
    return undefined
  }
}

export function startShop(opts: ShopOptions = {}): Promise<Shop> {
  const token = opts.token ?? 'shop-token'
  return startFakeSystem(
    {
      name: 'shop',
      authorize: (req) => req.headers.authorization === `Bearer ${token}`,
      newId: (_type, seq) => String(1000 + seq),
      routes(app, sys) {
        for (const type of RECORD_TYPES) {
          const base = `/${COLLECTIONS[type]}`
          crudRoutes(app, sys, type, base)

          app.get<{ Querystring: { modified_since?: string; limit?: string; cursor?: string } }>(base, async (req, reply) => {
            const limit = intParam(req.query.limit, 'limit', 100, 1000)
            if (typeof limit === 'string') return badRequest(reply, limit)
            const since = sinceParam(req.query.modified_since, 'modified_since')
            if (typeof since === 'string') return badRequest(reply, since)
            let after: Cursor | undefined
            if (req.query.cursor) {
              after = decodeCursor(req.query.cursor)
              if (!after) return badRequest(reply, 'cursor is invalid')
            }
            const afterMs = after ? Date.parse(after.u) : -Infinity
            const items: SandboxRecord[] = []
            let more = false
            // store iteration is already in (updatedAt, id) order
            for (const r of changedSince(sys.store, type, since)) {
              if (after) {
                const ms = Date.parse(r.updatedAt)
                if (ms < afterMs || (ms === afterMs && r.id <= after.i)) continue
              }
              if (items.length === limit) {
                more = true
                break
              }
              items.push(r)
            }
            return { items, next: more ? encodeCursor(items[items.length - 1]!) : null }
          })
        }
      },
    },
    opts,
  )
}
