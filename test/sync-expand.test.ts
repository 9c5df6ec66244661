// Manual syncs stored once and turned into jobs as workers have room (src/sync/expand.ts). The
// batches here use a window of a few hundred waiting jobs (2,000 in production), so a few
// thousand ids take many top-ups; at a million ids: bench/bulk-sync.ts.
import type { PgBoss } from 'pg-boss'
import t from 'tap'
import type { Hub } from '../src/hub.ts'
import { enqueueBatch } from '../src/sync/enqueue.ts'
import { expandBatches } from '../src/sync/expand.ts'
import { planSync } from '../src/sync/plan.ts'
import type { SyncParams } from '../src/sync/plan.ts'
import { startWorkers } from '../src/workers.ts'
import { startPipeline, waitFor } from './helpers/pipeline.ts'

type Pipeline = Awaited<ReturnType<typeof startPipeline>>

const ids = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** A manual sync from the shop of ids it does not have (each fetch is one GET, then skipped). */
async function upload (hub: Hub, list: string[], maxWaiting: number, extra: SyncParams = {}) {
  const plan = await planSync(hub.systems, { system: 'shop', scope: 'customer/update', ...extra })
  return await enqueueBatch(hub, plan, [list.map((id, i) => ({ line: i + 2, id }))], { maxWaiting })
}

const status = async (p: Pipeline, batchId: string) => (await p.app.inject({ url: `/v1/sync/${batchId}`, headers: p.auth })).json()

/** The batch's jobs by whether they still wait to be taken. */
async function jobsOf (hub: Hub, batchId: string): Promise<{ waiting: number, all: number }> {
  const { rows: [r] } = await hub.pool.query(
    `SELECT count(*) FILTER (WHERE state < 'active')::int AS waiting, count(*)::int AS all FROM pgboss.job
     WHERE name = 'inbound' AND data->>'batchId' = $1`, [batchId])
  return r
}

/** Ids left in the batch's stored chunks, less those of its first chunk already made jobs. */
const stored = async (hub: Hub, batchId: string) => (await hub.pool.query(
  `SELECT (SELECT coalesce(sum(cardinality(ids)), 0) FROM hub.sync_chunks WHERE batch_id = $1) - chunk_offset AS n
   FROM hub.sync_batches WHERE id = $1`, [batchId])).rows[0].n

t.test('3,000 ids never have more than the window of jobs waiting, each is fetched once, and the counts add up', async t => {
  const p = await startPipeline(t, { workers: false })
  await p.putSystem('shop', doc => { doc.throttle = { maxConcurrent: 16 } })
  const list = ids(3_000, 'gone-')
  const receipt = await upload(p.hub, list, 300)
  t.match(receipt, { queued: 3_000, coalesced: 0, rejectedCount: 0 })
  t.same(await jobsOf(p.hub, receipt.batchId), { waiting: 300, all: 300 }, 'the first 300 are jobs at once')
  t.equal(await stored(p.hub, receipt.batchId), 2_700, 'the rest are stored, once each')
  t.match(await status(p, receipt.batchId), { received: { queued: 3_000, stored: 2_700 }, counts: { queued: 3_000, active: 0 }, finished: false })

  const workers = await startWorkers(p.hub)
  t.teardown(() => workers.stop())
  let most = 0
  const progress: number[] = []
  const done = await waitFor(async () => {
    const jobs = await jobsOf(p.hub, receipt.batchId)
    most = Math.max(most, jobs.waiting)
    const s = await status(p, receipt.batchId)
    const c = s.counts
    progress.push(c.queued + c.active + c.completed + c.skipped + c.failed)
    return s.finished && s
  }, 120_000, 'the batch to finish')
  t.ok(most <= 300, `at most 300 of its jobs waited at once (most seen: ${most})`)
  t.same([...new Set(progress)], [3_000], 'its counts added up to the ids accepted all along')
  t.match(done, { received: { queued: 3_000, coalesced: 0, stored: 0 }, counts: { queued: 0, active: 0, completed: 0, skipped: 3_000, failed: 0 } })
  t.equal(await stored(p.hub, receipt.batchId), 0, 'no id is left stored')
  const fetched = p.shop.calls({ method: 'GET' }).map(c => c.path.replace('/customers/', '')).sort()
  t.same(fetched, [...list].sort(), 'the shop was asked for every id exactly once')
})

/** pg-boss, with its insert failing after the rows are written: a process dying mid-step. */
const dyingAfterInsert = (boss: PgBoss) => new Proxy(boss, {
  get: (target, key, receiver) => key === 'insert'
    ? async (...args: Parameters<PgBoss['insert']>) => { await target.insert(...args); throw new Error('killed mid-step') }
    : Reflect.get(target, key, receiver)
})

t.test('an expansion step that dies mid-way, and expanders running at once, neither lose nor repeat an id', async t => {
  const p = await startPipeline(t, { workers: false })
  const list = ids(1_000, 'kill-')
  const { batchId } = await upload(p.hub, list, 100)
  const takeAll = () => p.hub.pool.query(`UPDATE pgboss.job SET state = 'completed' WHERE name = 'inbound' AND data->>'batchId' = $1`, [batchId])
  await takeAll()

  await t.rejects(expandBatches({ ...p.hub, boss: dyingAfterInsert(p.hub.boss) }), /killed mid-step/)
  t.same(await jobsOf(p.hub, batchId), { waiting: 0, all: 100 }, 'the dead step left no job')
  t.equal(await stored(p.hub, batchId), 900, 'and every id it had taken is stored again')

  // Workers taking the batch's jobs between passes; three processes' expanders at once each pass.
  let passes = 0
  while ((await status(p, batchId)).received.stored > 0) {
    passes++
    await Promise.all([expandBatches(p.hub), expandBatches(p.hub), expandBatches(p.hub)])
    t.ok((await jobsOf(p.hub, batchId)).waiting <= 100, `pass ${passes}: at most 100 jobs waiting`)
    await takeAll()
  }
  t.equal(passes, 9, 'nine top-ups of 100 after the first 100')
  const { rows } = await p.hub.pool.query(`SELECT data->>'id' AS id FROM pgboss.job WHERE name = 'inbound' AND data->>'batchId' = $1 ORDER BY 1`, [batchId])
  t.same(rows.map(r => r.id), [...list].sort(), 'one job per id')
  t.match(await status(p, batchId), { received: { queued: 1_000, stored: 0 }, counts: { queued: 0, completed: 1_000 }, finished: true })
})

t.test('a debug batch is made into jobs whole at upload, and runs ahead of a big batch still stored', async t => {
  const p = await startPipeline(t, { workers: false })
  const big = await upload(p.hub, ids(3_000, 'bulk-'), 300)
  const debug = await upload(p.hub, ids(5, 'debug-'), 2, { debug: true })
  t.match(debug, { queued: 5 })
  const { rows } = await p.hub.pool.query(`SELECT id, priority FROM pgboss.job WHERE name = 'inbound' AND data->>'batchId' = $1`, [debug.batchId])
  t.same(rows.map(r => r.priority), [100, 100, 100, 100, 100], 'all 5 debug jobs exist at once, at debug priority, beyond a window of 2')
  t.equal(await stored(p.hub, big.batchId), 2_700)

  const workers = await startWorkers(p.hub)
  t.teardown(() => workers.stop())
  await waitFor(async () => (await status(p, debug.batchId)).finished, 60_000, 'the debug batch to finish')
  const { rows: [{ n }] } = await p.hub.pool.query(
    `SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'batchId' = $1
     AND started_on < (SELECT max(started_on) FROM pgboss.job WHERE data->>'batchId' = $2)`, [big.batchId, debug.batchId])
  t.ok(n < 300, `only ${n} of the big batch's first 300 jobs started before the last debug job`)
})

t.test('duplicates and unresolvable ids beyond the first chunks are found once the upload is stored', async t => {
  const p = await startPipeline(t, { workers: false })
  // Duplicates among the first lines are found as they are read; those among the lines stored
  // after them once the whole upload is stored.
  const inbound = await upload(p.hub, [...ids(10_000, 'a'), 'a0', 'a7000'], 2)
  t.match(inbound, { queued: 10_000, rejectedCount: 2, rejected: [{ line: 10_002, id: 'a0', reason: 'duplicate of line 2' }, { line: 10_003, id: 'a7000', reason: 'duplicate of line 7002' }] })
  t.equal(await stored(p.hub, inbound.batchId), 9_998, 'the ids made jobs at upload are not stored')

  const { rows } = await p.hub.pool.query("INSERT INTO hub.records (type, data, hash) SELECT 'customer', '{}', 'h' FROM generate_series(1, 7_002) RETURNING id")
  const records = rows.map(r => r.id as string)
  const [x, y] = records.slice(7_000)
  const list = [...records.slice(0, 7_000), 'not-a-uuid', x, '00000000-0000-0000-0000-000000000000', y, x]
  const plan = await planSync(p.hub.systems, { direction: 'outbound', target: 'erp', type: 'customer', action: 'update' })
  const outbound = await enqueueBatch(p.hub, plan, [list.map((id, i) => ({ line: i + 1, id }))], { maxWaiting: 1_000 })
  t.match(outbound, {
    queued: 7_002,
    rejectedCount: 3,
    rejected: [
      { line: 7_001, id: 'not-a-uuid', reason: /no hub customer with id/ },
      { line: 7_003, reason: /no hub customer with id/ },
      { line: 7_005, id: x, reason: 'duplicate of line 7002' }
    ]
  })
  const takeAll = () => p.hub.pool.query(`UPDATE pgboss.job SET state = 'completed' WHERE name = 'outbound' AND data->>'batchId' = $1`, [outbound.batchId])
  while ((await status(p, outbound.batchId)).received.stored > 0) {
    await takeAll()
    await expandBatches(p.hub)
  }
  await takeAll()
  const { rows: jobs } = await p.hub.pool.query(
    `SELECT data->>'recordId' AS id FROM pgboss.job WHERE name = 'outbound' AND data->>'batchId' = $1 ORDER BY created_on, id`, [outbound.batchId])
  t.same(jobs.map(j => j.id).sort(), [...records].sort(), 'one delivery per accepted id')
  t.match(await status(p, outbound.batchId), { received: { queued: 7_002, stored: 0 }, counts: { queued: 0, completed: 7_002 }, finished: true })
})
