// The webhook backlog (src/ingest/backlog.ts, src/ingest/pump.ts): a webhook's commit stores a
// narrow row, and the pump makes rows into inbound jobs, per system in arrival order, as the
// system's waiting jobs leave room. Workers are off unless a test starts them, so the pump runs
// only where a test calls it.
import t from 'tap'
import type { Test } from 'tap'
import { listen } from '../src/db/listen.ts'
import { accept } from '../src/ingest/backlog.ts'
import { pumpBacklog } from '../src/ingest/pump.ts'
import { inboundRow } from '../src/pipeline/jobs.ts'
import { MAX_WAITING } from '../src/queue/queues.ts'
import { startWorkers } from '../src/workers.ts'
import { startPipeline, waitFor } from './helpers/pipeline.ts'

type Pipeline = Awaited<ReturnType<typeof startPipeline>>

const start = (t: Test) => startPipeline(t, { workers: false })

const post = (p: Pipeline, body: unknown) => p.app.inject({
  method: 'POST',
  url: '/v1/hooks/shop',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${p.configEnv.SHOP_WEBHOOK_KEY}` },
  payload: body as object
})

const updates = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ scope: 'customer/update', id: `c${from + i}` }))

async function backlog (p: Pipeline): Promise<Array<{ system: string, id: string, action: string }>> {
  const { rows } = await p.hub.pool.query('SELECT system_id AS system, record_id AS id, action FROM hub.hook_backlog ORDER BY system_id, n')
  return rows
}

async function jobs (p: Pipeline, system = 'shop'): Promise<Array<{ id: string, action: string, state: string, job_id: string }>> {
  const { rows } = await p.hub.pool.query(
    "SELECT data->>'id' AS id, data->>'action' AS action, state::text AS state, id::text AS job_id FROM pgboss.job WHERE name = 'inbound' AND data->>'system' = $1 ORDER BY created_on, id",
    [system])
  return rows
}

/** Pump until a pass moves nothing: what moved in all, and whether a system was then held. */
async function pumpAll (p: Pipeline): Promise<{ moved: number, held: boolean }> {
  for (let moved = 0; ;) {
    const pass = await pumpBacklog(p.hub)
    if (!pass.moved) return { moved, held: pass.held }
    moved += pass.moved
  }
}

t.test('a webhook answered while no worker runs is kept, and is fetched and delivered once one starts', async t => {
  const p = await start(t)
  p.shop.put('customer', { email: 'kept@example.com', first_name: 'Kept', last_name: 'Safe' })
  await p.shop.flushWebhooks()
  t.equal(p.shop.emitErrors, 0, 'the shop had its 202')
  t.equal((await backlog(p)).length, 1, 'the webhook is stored')
  t.equal((await jobs(p)).length, 0, 'and is no job yet')

  const workers = await startWorkers(p.hub)
  t.teardown(() => workers.stop())
  await p.settled()
  t.same(p.crm.all('customer').map(c => c.email), ['kept@example.com'], 'the CRM has the customer')
  t.same(await backlog(p), [], 'the backlog is empty')
})

t.test('a receipt and its job are one piece of work: the job has the id the webhook was stored with', async t => {
  const p = await start(t)
  t.equal((await post(p, { scope: 'customer/update', id: 'c1' })).statusCode, 202)
  const { rows: [stored] } = await p.hub.pool.query('SELECT job_id::text FROM hub.hook_backlog')
  t.same(await pumpBacklog(p.hub), { moved: 1, held: false })
  t.same((await jobs(p)).map(j => j.job_id), [stored.job_id])
})

t.test("each system has at most MAX_WAITING waiting jobs; the rest wait in the backlog, in order, and do not hold back another system's", async t => {
  const p = await start(t)
  for (let from = 0; from < MAX_WAITING + 100; from += 1_000) {
    t.equal((await post(p, updates(from, Math.min(1_000, MAX_WAITING + 100 - from)))).statusCode, 202)
  }
  // A system deleted since its webhooks were accepted: its jobs still go out (and fail as not configured).
  await accept(p.hub.boss, [inboundRow({ system: 'gone', type: 'customer', action: 'update', id: 'g1' })], p.hub.pool)

  t.same(await pumpAll(p), { moved: MAX_WAITING + 1, held: true }, 'as many as there is room for')
  t.equal((await jobs(p)).length, MAX_WAITING, `the shop has ${MAX_WAITING} jobs waiting`)
  t.same((await jobs(p, 'gone')).map(j => j.id), ['g1'], 'the other system its own')
  t.same((await backlog(p)).map(b => b.id), updates(MAX_WAITING, 100).map(u => u.id), 'the last 100 wait in the backlog, in order')

  // Workers take 100 of the shop's jobs: room for the rest.
  await p.hub.pool.query("UPDATE pgboss.job SET state = 'active' WHERE id IN (SELECT id FROM pgboss.job WHERE name = 'inbound' AND data->>'system' = 'shop' AND state = 'created' LIMIT 100)")
  t.same(await pumpAll(p), { moved: 100, held: false })
  t.same(await backlog(p), [], 'the backlog is empty')
  const waiting = (await jobs(p)).filter(j => j.state === 'created').map(j => j.id)
  t.same(waiting.slice(-100), updates(MAX_WAITING, 100).map(u => u.id), 'the last 100 became jobs in the order they arrived')
})

t.test("one record's changes become jobs in the order they arrived; a delete never joins a fetch", async t => {
  const p = await start(t)
  await post(p, { scope: 'customer/update', id: 'a' })
  await post(p, { scope: 'customer/update', id: 'b' })
  await post(p, { scope: 'customer/delete', id: 'a' })
  const again = await post(p, { scope: 'customer/create', id: 'a' })
  t.same(again.json(), { accepted: 1, coalesced: 1, duplicates: 0 }, 'a create joins the waiting update in the backlog')
  t.same((await backlog(p)).map(b => [b.id, b.action]), [['a', 'update'], ['b', 'update'], ['a', 'delete']])
  await pumpBacklog(p.hub)
  const after = await post(p, { scope: 'customer/update', id: 'b' })
  t.same(after.json(), { accepted: 1, coalesced: 1, duplicates: 0 }, 'once a job, a change joins the job waiting')
  t.same(await backlog(p), [], 'and is not stored again')
  const { rows } = await p.hub.pool.query<{ singleton_key: string }>(
    "SELECT singleton_key FROM pgboss.job WHERE name = 'inbound' ORDER BY id")
  t.same(rows.map(r => r.singleton_key), ['shop:customer:a:fetch', 'shop:customer:b:fetch', 'shop:customer:a:delete'], 'job ids in arrival order')
})

t.test('a pass that fails leaves the backlog as it was', async t => {
  const p = await start(t)
  await post(p, updates(0, 3))
  const failing = { ...p.hub, systems: { ...p.hub.systems, get: async () => { throw new Error('config unreadable') } } }
  await t.rejects(pumpBacklog(failing), /config unreadable/)
  t.equal((await backlog(p)).length, 3, 'every webhook is still stored')
  t.equal((await jobs(p)).length, 0, 'and no job was made')
  t.same(await pumpBacklog(p.hub), { moved: 3, held: false }, 'the next pass makes them')
})

t.test('two pumps at once (two worker processes) make each webhook one job', async t => {
  const p = await start(t)
  await post(p, updates(0, 500))
  const passes = await Promise.all([pumpBacklog(p.hub), pumpBacklog(p.hub), pumpBacklog(p.hub)])
  t.equal(passes.reduce((n, r) => n + r.moved, 0), 500, 'every webhook moved once')
  t.equal((await jobs(p)).length, 500)
  t.same(await backlog(p), [])
})

t.test('the backlog counts as inbound work in state accepted, for operators and /metrics', async t => {
  const p = await start(t)
  await post(p, updates(0, 2))
  const { rows } = await p.hub.pool.query("SELECT queue, state, system, jobs FROM hub.queue_depth WHERE state = 'accepted'")
  t.same(rows, [{ queue: 'inbound', state: 'accepted', system: 'shop', jobs: 2 }])
  const { rows: [oldest] } = await p.hub.pool.query("SELECT waiting FROM hub.oldest_waiting WHERE queue = 'inbound'")
  t.equal(oldest.waiting, 2, 'waiting, with the age of the oldest')
  const metrics = await p.app.inject({ method: 'GET', url: '/metrics', headers: p.auth })
  t.match(metrics.body, /hub_queue_depth\{queue="inbound",state="accepted"\} 2/)
})

t.test('a notification listener whose connection is lost connects again, and reports it', async t => {
  const p = await start(t)
  let heard = 0
  const listener = await listen(p.hub.pool, 'hub_test_channel', () => { heard++ }, p.hub.log)
  t.teardown(() => listener.close())
  await p.hub.pool.query("SELECT pg_notify('hub_test_channel', '')")
  await waitFor(() => heard === 1, 10_000, 'the first notification')
  await p.hub.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN hub_test_channel'")
  await waitFor(() => heard === 2, 10_000, 'the reconnect to be reported')
  await p.hub.pool.query("SELECT pg_notify('hub_test_channel', '')")
  await waitFor(() => heard === 3, 10_000, 'a notification on the new connection')
})
