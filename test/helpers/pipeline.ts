import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import YAML from 'yaml'
import { exampleEnv, startSandbox } from '../../sandbox/index.ts'
import { substituteEnv } from '../../src/config/load.ts'
import type { Hub } from '../../src/hub.ts'
import { pumpBacklog } from '../../src/ingest/pump.ts'
import { waitUntil } from '../../src/wait-until.ts'
import { buildTestHub } from './hub.ts'
import type { TestHubOptions } from './hub.ts'

export const exampleConfig = fileURLToPath(new URL('../../examples/hub.config.yaml', import.meta.url))

/** Poll `check` until it returns a truthy value (or throw after `ms`): waitUntil, test-shaped. */
export const waitFor = <T>(check: () => Promise<T> | T, ms = 20_000, what = 'condition'): Promise<T> =>
  waitUntil(what, check, { timeoutMs: ms, everyMs: 25 })

/** Jobs of the pipeline queues not yet finished (queued, retrying or running), and webhooks not yet jobs. */
export async function pendingJobs (hub: Hub): Promise<number> {
  const { rows } = await hub.pool.query<{ n: number }>(
    "SELECT coalesce(sum(jobs), 0)::int AS n FROM hub.queue_depth WHERE queue IN ('inbound', 'outbound')")
  return rows[0].n
}

export interface InboundJobRow { data: Record<string, unknown>, priority: number, singleton_key: string, state: string }

/**
 * The inbound jobs pg-boss holds, once the webhook backlog is pumped into the queue: for tests
 * that run no workers (and so no pump) and look at what webhooks were made into.
 */
export async function inboundJobs (hub: Hub): Promise<InboundJobRow[]> {
  await pumpBacklog(hub)
  const { rows } = await hub.pool.query<InboundJobRow>(
    "SELECT data, priority, singleton_key, state::text AS state FROM pgboss.job WHERE name = 'inbound' ORDER BY created_on, data->>'id'")
  return rows
}

/** Wait until the pipeline has nothing left to do. */
export const settled = (hub: Hub, ms?: number) => waitFor(async () => await pendingJobs(hub) === 0, ms, 'the pipeline to settle')

/**
 * A system of the example config as a document for PUT /v1/systems/:id, with its ${NAME}
 * references filled in (API documents may not reference the process environment).
 */
export async function exampleSystem (id: string, env: Record<string, string>): Promise<Record<string, any>> {
  const raw = YAML.parse(await readFile(exampleConfig, 'utf8'), { merge: true }) as { systems: Array<{ id: string }> }
  const doc = raw.systems.find(s => s.id === id)
  if (!doc) throw new Error(`no system ${id} in the example config`)
  return substituteEnv(doc, env).value as Record<string, any>
}

/**
 * The sandbox shop, CRM and ERP on loopback, and a listening hub configured with
 * examples/hub.config.yaml; the shop posts its changes to the hub's webhook endpoint.
 */
export async function startPipeline (t: Test, opts: TestHubOptions = {}) {
  const sandbox = await startSandbox()
  const configEnv = { ...exampleEnv(sandbox), ...opts.configEnv }
  const test = await buildTestHub(t, { listen: true, ...opts, env: { HUB_CONFIG: exampleConfig, ...opts.env }, configEnv })
  t.teardown(() => sandbox.close())
  sandbox.shop.emitTo({ url: `${test.url}/v1/hooks/shop`, key: configEnv.SHOP_WEBHOOK_KEY })
  /** Replace a system of the example config over the API, changed by `edit`. */
  const putSystem = async (id: string, edit: (doc: Record<string, any>) => void) => {
    const doc = await exampleSystem(id, configEnv)
    edit(doc)
    const res = await test.app.inject({ method: 'PUT', url: `/v1/systems/${id}`, headers: test.auth, payload: doc })
    if (res.statusCode >= 300) throw new Error(`PUT /v1/systems/${id}: ${res.body}`)
  }
  /** Every webhook the shop sent has been answered, and the pipeline has nothing left to do. */
  const synced = async () => {
    await sandbox.shop.flushWebhooks()
    await settled(test.hub)
  }
  return { ...test, ...sandbox, configEnv, putSystem, synced, settled: (ms?: number) => settled(test.hub, ms) }
}
