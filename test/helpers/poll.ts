// Pull sync test helpers: a ledger system (the sandbox's cursor-mode source) and its state.
import type { Test } from 'tap'
import type { PullSource } from '../../sandbox/index.ts'
import type { TestHub } from './hub.ts'

/** A system on the sandbox ledger at `url` with a cursor-mode customer poll; `poll`/`list` override. */
export const ledgerDoc = (id: string, url: string, poll: object = {}, list: object = {}) => ({
  id,
  baseUrl: url,
  allowPrivateNetwork: true,
  throttle: { maxConcurrent: 2, perSecond: 200 },
  types: {
    customer: {
      get: { path: '/customers/{id}' },
      list: { path: '/customers', itemsPath: 'customers', modifiedPath: 'version', sinceParam: 'modified_since', paging: { kind: 'page', param: 'page' }, pageSize: 2, pageSizeParam: 'per_page', ...list }
    }
  },
  flows: [{
    type: 'customer',
    direction: 'inbound',
    actions: ['create', 'update'],
    mappings: [{ kind: 'field', from: 'email', to: 'email_address' }, { kind: 'field', from: 'name', to: 'first_name' }],
    poll: { mode: 'cursor', ...poll }
  }]
})

export async function putSystem (h: TestHub, doc: { id: string, [key: string]: unknown }) {
  const res = await h.app.inject({ method: 'PUT', url: `/v1/systems/${doc.id}`, headers: h.auth, payload: doc })
  if (res.statusCode >= 300) throw new Error(`PUT ${doc.id}: ${res.body}`)
}

/** A sandbox pull source, closed when the test ends. */
export async function source (t: Test, start: () => Promise<PullSource>) {
  const s = await start()
  t.teardown(() => s.close())
  return s
}

export const pollState = async (h: TestHub, system: string) => (await h.app.inject({ url: `/v1/systems/${system}/poll`, headers: h.auth })).json()

/** Live hub records linked to `system`. */
export const linked = async (h: TestHub, system: string) =>
  (await h.hub.pool.query('SELECT count(*)::int AS n FROM hub.links l JOIN hub.records r ON r.id = l.record_id WHERE l.system_id = $1 AND r.deleted_at IS NULL', [system])).rows[0].n
