import type { ServerResponse } from 'node:http'
import type { Test } from 'tap'
import { startHttpServer } from './http.ts'
import type { Received } from './http.ts'
import { buildTestHub } from './hub.ts'
import type { TestHub, TestHubOptions } from './hub.ts'

const WEBHOOK_KEY = 'delivery-test-webhook-key'

/**
 * A source system 'src' serving customers {id, email} (GET /customers/:id) and a destination
 * 'dest' answering with `dest` (the test's own server), both configured over the API of a fresh
 * hub; `deliver` posts webhooks for ids so the hub fetches each and creates it at 'dest'.
 */
export async function startDelivery (t: Test, opts: {
  dest: (req: Received, res: ServerResponse) => void | Promise<void>
  /** The source's customer for an id (default {id, email: c<id>@example.com}). */
  source?: (id: string) => Record<string, unknown>
  /** Fields of the 'dest' system document (retry, breaker, idempotency, throttle, types …). */
  destSystem?: Record<string, unknown>
  hub?: TestHubOptions
}) {
  const src = await startHttpServer(t, (req, res) => {
    const id = req.url.split('/').pop() ?? ''
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(opts.source?.(id) ?? { id, email: `c${id}@example.com` }))
  })
  const dest = await startHttpServer(t, opts.dest)
  const hub = await buildTestHub(t, opts.hub)
  await putSystem(hub, {
    id: 'src',
    baseUrl: src.url,
    allowPrivateNetwork: true,
    webhooks: { keys: [WEBHOOK_KEY] },
    types: { customer: { get: { path: '/customers/{id}' } } },
    flows: [{ type: 'customer', direction: 'inbound', mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }]
  })
  await putSystem(hub, {
    id: 'dest',
    baseUrl: dest.url,
    allowPrivateNetwork: true,
    types: { customer: { create: { path: '/customers' }, update: { path: '/customers/{id}' } } },
    flows: [{ type: 'customer', direction: 'outbound', actions: ['create', 'update'], mappings: [{ kind: 'field', from: 'email_address', to: 'email' }] }],
    ...opts.destSystem
  })
  const deliver = async (ids: string[]) => {
    const res = await hub.app.inject({
      method: 'POST',
      url: '/v1/hooks/src',
      headers: { authorization: `Bearer ${WEBHOOK_KEY}` },
      payload: ids.map(id => ({ scope: 'customer/create', id }))
    })
    if (res.statusCode !== 202) throw new Error(`POST /v1/hooks/src: ${res.statusCode} ${res.body}`)
  }
  /** Creates the destination received (POST /customers). */
  const creates = () => dest.received.filter(r => r.method === 'POST' && r.url === '/customers')
  return { ...hub, src, dest, deliver, creates }
}

async function putSystem (hub: TestHub, doc: Record<string, unknown>): Promise<void> {
  const res = await hub.app.inject({ method: 'PUT', url: `/v1/systems/${String(doc.id)}`, headers: hub.auth, payload: doc })
  if (res.statusCode >= 300) throw new Error(`PUT /v1/systems/${String(doc.id)}: ${res.body}`)
}

/** The hub's links of 'dest' customers: one per delivered record. */
export async function destLinks (hub: TestHub): Promise<string[]> {
  const { rows } = await hub.hub.pool.query<{ external_id: string }>("SELECT external_id FROM hub.links WHERE system_id = 'dest' ORDER BY external_id")
  return rows.map(r => r.external_id)
}

/** Jobs pg-boss moved to the dead letter queue. */
export async function deadLetters (hub: TestHub): Promise<number> {
  const { rows } = await hub.hub.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'dead-letter'")
  return rows[0].n
}
