// The pipeline's job runner (src/pipeline/runner.ts): jobs completed one by one as they end, a
// write's deliveries claimed in its own transaction, the rest left to the queue, and a stop that
// hands unfinished jobs back.
import type { ServerResponse } from 'node:http'
import t from 'tap'
import { outbound } from '../jobs/outbound.ts'
import { inTransaction } from '../src/db/pool.ts'
import { pumpBacklog } from '../src/ingest/pump.ts'
import { createPipelineContext } from '../src/pipeline/create-context.ts'
import { insertJobs, outboundRow } from '../src/pipeline/jobs.ts'
import { PROBE_MS, startRunner } from '../src/pipeline/runner.ts'
import { OUTBOUND, PRIORITY } from '../src/queue/queues.ts'
import { destLinks, startDelivery } from './helpers/delivery.ts'
import type { Received } from './helpers/http.ts'
import { settled, waitFor } from './helpers/pipeline.ts'

/**
 * A destination that creates what it is sent (ids d1, d2 …), holding back the answer for emails
 * in `held` until released; a held request arriving after the release is not held (a job is
 * active in the table a moment before its request reaches here).
 */
function destination (held: string[] = []) {
  let n = 0
  let released = false
  const waiting: Array<() => void> = []
  const handle = async (req: Received, res: ServerResponse) => {
    const { email } = JSON.parse(req.body || '{}') as { email?: string }
    if (email && held.includes(email) && !released) await new Promise<void>(resolve => waiting.push(resolve))
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `d${++n}` }))
  }
  return { handle, release: () => { released = true; waiting.splice(0).forEach(r => r()) } }
}

const jobStates = async (pool: { query: Function }) => (await pool.query(
  "SELECT data->>'recordId' AS record, state::text AS state, started_on = created_on AS claimed FROM pgboss.job WHERE name = 'outbound' ORDER BY created_on")).rows as Array<{ record: string, state: string, claimed: boolean }>

t.test('each delivery is completed when it ends, not with the jobs that ran beside it', async t => {
  const dest = destination(['c1@example.com'])
  const d = await startDelivery(t, { dest: dest.handle })
  await d.deliver(['1', '2', '3'])
  await waitFor(async () => (await jobStates(d.hub.pool)).filter(j => j.state === 'completed').length === 2, 20_000, 'two deliveries completed')
  const states = await jobStates(d.hub.pool)
  t.same(states.map(j => j.state).sort(), ['active', 'completed', 'completed'], 'the held one still runs; the other two are done')
  dest.release()
  await settled(d.hub)
  t.same((await jobStates(d.hub.pool)).map(j => j.state), ['completed', 'completed', 'completed'])
  t.equal((await destLinks(d)).length, 3)
})

t.test("a write's deliveries start in the worker that wrote it, claimed in the write's own transaction; those beyond its room wait in the queue", async t => {
  const dest = destination()
  // maxConcurrent 1: the worker claims two of the system's deliveries at a time (one running, one
  // next), the rest are left to the queue and fetched.
  const d = await startDelivery(t, { dest: dest.handle, destSystem: { throttle: { maxConcurrent: 1 } } })
  await d.deliver(['1', '2', '3', '4', '5'])
  await settled(d.hub)
  const states = await jobStates(d.hub.pool)
  t.equal(states.length, 5)
  t.ok(states.every(j => j.state === 'completed'), 'every delivery completed')
  // A claimed job is marked running in the transaction that inserted it: pg-boss's clock, the
  // transaction's time, is the same for both. A fetched one starts later.
  const claimed = states.filter(j => j.claimed).length
  t.ok(claimed >= 1 && claimed <= 4, `some claimed where they were written, the rest fetched (${claimed} of 5 claimed)`)
  t.equal((await destLinks(d)).length, 5, 'all five delivered once')
  t.equal(d.creates().length, 5)
})

t.test('a claim on a transaction that rolls back runs nothing and gives its room back', async t => {
  const dest = destination()
  const d = await startDelivery(t, { dest: dest.handle, hub: { workers: false } })
  const ctx = createPipelineContext(d.hub.pool, d.hub)
  const runner = startRunner(ctx, [{ spec: outbound, capacity: 2 }])
  t.teardown(() => runner.stop(0))
  const system = (await d.hub.systems.get('dest'))!
  const recordId = (await d.hub.pool.query<{ id: string }>("INSERT INTO hub.records (id, type, data, hash) VALUES (gen_random_uuid(), 'customer', '{\"email_address\":\"x@example.com\"}', 'h') RETURNING id")).rows[0].id
  const rows = () => [1, 2, 3].map(() => outboundRow({ system: 'dest', type: 'customer', action: 'create', recordId, debug: true }, system))

  const claim = runner.claim()
  await t.rejects(inTransaction(d.hub.pool, async tx => {
    const mine = claim.reserve(OUTBOUND, rows())
    t.equal(mine.length, 2, 'room for two (the capacity)')
    await insertJobs(d.hub.boss, OUTBOUND, mine, tx)
    await claim.activate(tx, OUTBOUND, mine)
    throw new Error('rolled back')
  }).finally(() => claim.drop()), /rolled back/)
  t.same(await jobStates(d.hub.pool), [], 'nothing was inserted')
  t.equal(runner.claim().reserve(OUTBOUND, rows()).length, 2, 'the room is back')
  t.equal(d.creates().length, 0, 'nothing was sent')
})

t.test('a job still running when its worker stops past the grace goes back to the queue and finishes elsewhere', async t => {
  const dest = destination(['c1@example.com'])
  const d = await startDelivery(t, { dest: dest.handle, hub: { workers: false } })
  const ctx = createPipelineContext(d.hub.pool, d.hub)
  const { inbound } = await import('../jobs/inbound.ts')
  const runner = startRunner(ctx, [{ spec: inbound, capacity: 8 }, { spec: outbound, capacity: 8 }])
  ctx.claims = runner.claim
  await d.deliver(['1'])
  // No worker process runs here to pump the webhook backlog into the queue.
  await pumpBacklog(d.hub)
  await waitFor(() => d.creates().length === 1, 20_000, 'the create to be sent')
  await runner.stop(100)
  t.match(await jobStates(d.hub.pool), [{ state: /^(retry|created)$/ }], 'handed back, not left active')
  dest.release()

  const second = startRunner(ctx, [{ spec: outbound, capacity: 8 }])
  t.teardown(() => second.stop(0))
  await waitFor(async () => (await jobStates(d.hub.pool))[0].state === 'completed', 20_000, 'the delivery to complete on the next runner')
  t.equal((await destLinks(d)).length, 1)
})

t.test('jobs a fetch brings back after the stop began are run within the grace, not left active', async t => {
  const dest = destination()
  const d = await startDelivery(t, { dest: dest.handle, hub: { workers: false } })
  const { boss } = d.hub
  // The first fetch waits until the stop has begun, then takes the job.
  let stopBegun!: () => void
  const begun = new Promise<void>(resolve => { stopBegun = resolve })
  let fetching!: () => void
  const inFetch = new Promise<void>(resolve => { fetching = resolve })
  const fetch = boss.fetch.bind(boss)
  boss.fetch = (async (name: string, options: object) => { fetching(); await begun; return await fetch(name, options as never) }) as typeof boss.fetch
  t.teardown(() => { boss.fetch = fetch })
  const system = (await d.hub.systems.get('dest'))!
  const recordId = (await d.hub.pool.query<{ id: string }>("INSERT INTO hub.records (id, type, data, hash) VALUES (gen_random_uuid(), 'customer', '{\"email_address\":\"s@example.com\"}', 'h') RETURNING id")).rows[0].id
  await insertJobs(boss, OUTBOUND, [outboundRow({ system: 'dest', type: 'customer', action: 'create', recordId }, system)], d.hub.pool)
  const runner = startRunner(createPipelineContext(d.hub.pool, d.hub), [{ spec: outbound, capacity: 8 }])
  await inFetch
  const stopped = runner.stop(5_000)
  stopBegun()
  await stopped
  t.same((await jobStates(d.hub.pool)).map(j => j.state), ['completed'], 'the job fetched during the stop ran')
  t.equal(d.creates().length, 1, 'and was delivered once')
})

t.test("with its system's group full the runner asks pg-boss for debug jobs only; the others follow once the group has room", async t => {
  const dest = destination(['c1@example.com'])
  const d = await startDelivery(t, { dest: dest.handle, hub: { workers: false }, destSystem: { throttle: { maxConcurrent: 1 } } })
  // The priority each fetch asked for at least.
  const asked: Array<number | undefined> = []
  const { boss } = d.hub
  const fetch = boss.fetch.bind(boss)
  boss.fetch = ((name: string, options: { minPriority?: number }) => { asked.push(options.minPriority); return fetch(name, options as never) }) as typeof boss.fetch
  t.teardown(() => { boss.fetch = fetch })
  const ctx = createPipelineContext(d.hub.pool, d.hub)
  const system = (await d.hub.systems.get('dest'))!
  const record = async (email: string) => (await d.hub.pool.query<{ id: string }>(
    "INSERT INTO hub.records (id, type, data, hash) VALUES (gen_random_uuid(), 'customer', $1, 'h') RETURNING id", [{ email_address: email }])).rows[0].id
  const queue = async (emails: string[], debug?: boolean) => insertJobs(d.hub.boss, OUTBOUND,
    await Promise.all(emails.map(async e => outboundRow({ system: 'dest', type: 'customer', action: 'create', recordId: await record(e), debug }, system))), d.hub.pool)
  await queue(['c1@example.com', 'c2@example.com', 'c3@example.com'])
  const started = Date.now()
  const runner = startRunner(ctx, [{ spec: outbound, capacity: 8 }])
  t.teardown(() => runner.stop(0))
  await waitFor(() => d.creates().length === 1, 20_000, 'the first delivery to be sent (and held)')
  const first = asked.length
  await queue(['debug@example.com'], true)
  await waitFor(() => d.creates().length === 2, 20_000, 'the debug delivery to be sent beside it')
  t.ok(asked.length > first, 'the queue was fetched again')
  const probes = asked.slice(first).filter(p => p !== PRIORITY.debug).length
  t.ok(probes <= Math.floor((Date.now() - started) / PROBE_MS), `while the group is full, only debug jobs are asked for, but for a probe every ${PROBE_MS} ms (${probes})`)
  dest.release()
  await waitFor(() => d.creates().length === 4, 20_000, 'the other two, once the group has room')
  // A delivery is completed after its destination answered.
  await settled(d.hub)
  t.same((await jobStates(d.hub.pool)).map(j => j.state), ['completed', 'completed', 'completed', 'completed'])
})

t.test("a system this process has run no job of is not held behind another system's full group", async t => {
  const dest = destination(['c1@example.com'])
  const d = await startDelivery(t, { dest: dest.handle, hub: { workers: false }, destSystem: { throttle: { maxConcurrent: 1 } } })
  t.teardown(() => dest.release())
  const ctx = createPipelineContext(d.hub.pool, d.hub)
  const system = (await d.hub.systems.get('dest'))!
  const record = async (email: string) => (await d.hub.pool.query<{ id: string }>(
    "INSERT INTO hub.records (id, type, data, hash) VALUES (gen_random_uuid(), 'customer', $1, 'h') RETURNING id", [{ email_address: email }])).rows[0].id
  await insertJobs(d.hub.boss, OUTBOUND, await Promise.all(['c1@example.com', 'c2@example.com', 'c3@example.com'].map(async e =>
    outboundRow({ system: 'dest', type: 'customer', action: 'create', recordId: await record(e) }, system))), d.hub.pool)
  const runner = startRunner(ctx, [{ spec: outbound, capacity: 8 }])
  t.teardown(() => runner.stop(0))
  await waitFor(() => d.creates().length === 1, 20_000, 'the first delivery to be sent (and held): the group is full')
  // Queued after dest's: of a system (not configured, so it fails at once) none of whose jobs ran here.
  const [other] = await insertJobs(d.hub.boss, OUTBOUND, [outboundRow({ system: 'other', type: 'customer', action: 'create', recordId: await record('o@example.com') }, { ...system, id: 'other' })], d.hub.pool)
  await waitFor(async () => (await d.hub.pool.query("SELECT state::text FROM pgboss.job WHERE id = $1", [other])).rows[0].state !== 'created', 20_000, "the other system's job to be taken")
  t.equal(d.creates().length, 1, "while dest's group is still full")
})
