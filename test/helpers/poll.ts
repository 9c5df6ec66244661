// Pull sync test helpers: a ledger system (the sandbox's cursor-mode source) and its state.
import type { Test } from 'tap'
import { ledgerSystem } from '../../sandbox/index.ts'
import type { PullSource } from '../../sandbox/index.ts'
import type { TestHub } from './hub.ts'
import { waitFor } from './pipeline.ts'

/** A system on the sandbox ledger at `url` with a cursor-mode customer poll, pages of 2; `poll`/`list` override. */
export function ledgerDoc (id: string, url: string, poll: object = {}, list: object = {}) {
  const doc = ledgerSystem(url, id)
  const customer = doc.types.customer
  return {
    ...doc,
    types: { customer: { ...customer, list: { ...customer.list, pageSize: 2, ...list } } },
    flows: [{ ...doc.flows[0], poll: { ...doc.flows[0].poll, ...poll } }]
  }
}

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

/** Poll now and wait for that run to end; returns its report. */
export async function pollNow (h: TestHub, system: string, type: string) {
  const res = await h.app.inject({ method: 'POST', url: `/v1/systems/${system}/poll/${type}`, headers: h.auth })
  if (res.statusCode !== 202 || !res.json().started) throw new Error(`poll ${system}: ${res.statusCode} ${res.body}`)
  const { jobId } = res.json()
  return await waitFor(async () => {
    const state = (await pollState(h, system)).types.find((s: { type: string }) => s.type === type)
    return state.lastRun?.jobId === jobId ? state.lastRun : undefined
  }, 30_000, `the poll run of ${system}`)
}
