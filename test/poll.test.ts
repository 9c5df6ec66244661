import t from 'tap'
import type { Test } from 'tap'
import { startLedger, startStockroom, stockroomSystem } from '../sandbox/index.ts'
import { parseSystem } from '../src/config/load.ts'
import { STOPPED } from '../src/poll/run.ts'
import { POLL } from '../src/queue/queues.ts'
import { startWorkers } from '../src/workers.ts'
import { buildTestHub } from './helpers/hub.ts'
import type { TestHub } from './helpers/hub.ts'
import { startHttpServer } from './helpers/http.ts'
import { settled, waitFor } from './helpers/pipeline.ts'
import { ledgerDoc, linked, pollNow, pollState, putSystem, source } from './helpers/poll.ts'

// Pull sync against the sandbox's two sources that send no webhooks: the ledger (cursor mode)
// and the stockroom (audit mode). Sizes are the smallest that show each behaviour.

/** A system on the sandbox stockroom at `url`, pages of `pageSize`; `poll` overrides. */
function stockroomDoc (id: string, url: string, poll: object = {}, pageSize = 2) {
  const doc = stockroomSystem(url, id)
  return {
    ...doc,
    types: { product: { list: { ...doc.types.product.list, pageSize } } },
    flows: [{ ...doc.flows[0], poll: { ...doc.flows[0].poll, ...poll } }]
  }
}

t.test('poll config is checked at load, with the path of what is wrong', async t => {
  const errors = (doc: object) => { const r = parseSystem(doc); return r.ok ? [] : r.errors }
  const base = ledgerDoc('ledger', 'http://127.0.0.1:1')
  const schedule = (cron: string) => errors({ ...base, flows: [{ ...base.flows[0], poll: { mode: 'cursor', schedule: cron } }] })
  t.match(schedule('61 * * * *'), ['flows[0].poll.schedule: invalid cron expression: Constraint error, got value 61 expected range 0-59'])
  // cron-parser alone takes each of these, as every minute, seconds, or a step that never steps.
  t.same(schedule(''), ["flows[0].poll.schedule: must be 5 cron fields (minute hour day-of-month month day-of-week), found 0: ''"])
  t.same(schedule('0 * * * * *'), ["flows[0].poll.schedule: must be 5 cron fields (minute hour day-of-month month day-of-week), found 6: '0 * * * * *'"])
  t.same(schedule('*/5 * * *'), ["flows[0].poll.schedule: must be 5 cron fields (minute hour day-of-month month day-of-week), found 4: '*/5 * * *'"])
  t.same(schedule('banana'), ["flows[0].poll.schedule: must be 5 cron fields (minute hour day-of-month month day-of-week), found 1: 'banana'"])
  t.same(schedule('*/61 * * * *'), ["flows[0].poll.schedule: the minute field's step /61 is outside 1-59"])
  t.same(schedule('0 */0 * * *'), ["flows[0].poll.schedule: the hour field's step /0 is outside 1-23"])
  t.same(schedule(' */15  * * * mon-fri '), [], 'spacing is free, and names work')
  t.match(errors({ ...base, types: { customer: { ...base.types.customer, list: { ...base.types.customer.list, pageSize: 5000 } } } }), [/types\.customer\.list\.pageSize/])
  t.match(errors({ ...base, types: { customer: { ...base.types.customer, list: { ...base.types.customer.list, paging: { kind: 'cursor' } } } } }), [/types\.customer\.list\.paging/])
  t.same(errors({ ...base, types: { customer: { ...base.types.customer, list: { ...base.types.customer.list, query: { page: '1', modified_since: '0', sort: 'version' } } } } }), [
    'types.customer.list.query.page: the hub sets page itself on each list call (paging.param); leave it out of query',
    'types.customer.list.query.modified_since: the hub sets modified_since itself on each list call (sinceParam); leave it out of query'
  ], 'a query value where the hub pages or filters is refused')
  const { sinceParam: _s, ...noSince } = base.types.customer.list
  t.match(errors({ ...base, types: { customer: { ...base.types.customer, list: noSince } } }), [/types\.customer\.list\.sinceParam.*cursor-mode poll of flows\[0\]/])
  t.match(errors({ ...base, types: { customer: { get: base.types.customer.get } } }), ['flows[0].poll: polling needs types.customer.list'])
  const parsed = parseSystem(stockroomDoc('stockroom', 'http://127.0.0.1:1'))
  t.ok(parsed.ok, 'an audit flow with fullRecords needs no get endpoint')
  if (parsed.ok) t.match(parsed.system.flows[0].poll, { schedule: '0 * * * *', batchLimit: 1000 }, 'hourly, 1,000 changes a run by default')
})

t.test('pull sync', async t => {
  const h = await buildTestHub(t)

  t.test('cursor mode takes what changed since the last run, and not what came before', async t => {
    const ledger = await source(t, startLedger)
    for (let i = 1; i <= 3; i++) ledger.put(`L${i}`, { email: `c${i}@example.com`, name: `C${i}` })
    await putSystem(h, ledgerDoc('ledger', ledger.url))
    t.match(await pollNow(h, 'ledger', 'customer'), { mode: 'cursor', seen: 3, enqueued: 3, complete: true })
    await settled(h.hub)
    t.equal(await linked(h, 'ledger'), 3)
    const fetched = ledger.calls.get
    ledger.put('L2', { email: 'c2@example.com', name: 'Changed' })
    ledger.put('L4', { email: 'c4@example.com', name: 'C4' })
    t.match(await pollNow(h, 'ledger', 'customer'), { seen: 2, enqueued: 2 }, 'only the two changes are listed')
    await settled(h.hub)
    t.equal(ledger.calls.get - fetched, 2, 'and fetched')
    t.equal(await linked(h, 'ledger'), 4)
    t.match((await pollState(h, 'ledger')).types[0], { cursor: { token: '5', id: 'L4' }, mode: 'cursor', schedule: '0 * * * *', lastError: null })
    t.ok(((await h.hub.pool.query("SELECT count(*)::int AS n FROM hub.throttle WHERE system_id = 'ledger'")).rows[0].n), 'listing calls take the system\'s perSecond pace')
  })

  t.test('a system deleted and made again starts with a full pull, not the old cursor', async t => {
    const ledger = await source(t, startLedger)
    for (let i = 1; i <= 3; i++) ledger.put(`R${i}`, { email: `r${i}@example.com` })
    await putSystem(h, ledgerDoc('again', ledger.url))
    t.match(await pollNow(h, 'again', 'customer'), { enqueued: 3 })
    t.ok((await pollState(h, 'again')).types[0].cursor, 'a cursor before')
    const del = await h.app.inject({ method: 'DELETE', url: '/v1/systems/again', headers: h.auth })
    t.equal(del.statusCode, 204)
    await putSystem(h, ledgerDoc('again', ledger.url))
    t.match((await pollState(h, 'again')).types[0], { cursor: null, lastRun: null, lastError: null }, 'no state of the deleted system')
    t.match(await pollNow(h, 'again', 'customer'), { seen: 3, enqueued: 3 }, 'every record is listed again')
    await settled(h.hub)
  })

  t.test('records sharing a token across page boundaries and batch limits are all taken once', async t => {
    const ledger = await source(t, startLedger)
    for (const id of ['E1', 'E2', 'E3', 'E4', 'E5']) ledger.put(id, { email: `${id}@example.com` }, 7)
    await putSystem(h, ledgerDoc('equal', ledger.url, { batchLimit: 3 }))
    t.match(await pollNow(h, 'equal', 'customer'), { enqueued: 3, cut: true })
    t.match((await pollState(h, 'equal')).types[0].cursor, { token: '7', id: 'E3' })
    t.match(await pollNow(h, 'equal', 'customer'), { enqueued: 2, cut: false })
    t.match(await pollNow(h, 'equal', 'customer'), { enqueued: 0 })
    await settled(h.hub)
    t.equal(await linked(h, 'equal'), 5)
    const { rows } = await h.hub.pool.query("SELECT count(*)::int AS n FROM hub.history WHERE system_id = 'equal' AND direction = 'inbound'")
    t.equal(rows[0].n, 5, 'each record was fetched once')
  })

  t.test('a failing page leaves the cursor where the committed work is; the next run takes the rest', async t => {
    const ledger = await source(t, startLedger)
    for (let i = 1; i <= 5; i++) ledger.put(`F${i}`, { email: `f${i}@example.com` })
    await putSystem(h, ledgerDoc('failing', ledger.url))
    ledger.failList(2)
    t.match(await pollNow(h, 'failing', 'customer'), { pages: 1, enqueued: 2, error: /answered 503/ })
    const state = (await pollState(h, 'failing')).types[0]
    t.match(state, { cursor: { token: '2', id: 'F2' }, lastError: /answered 503/ }, 'the cursor stops at the last page queued')
    ledger.failList(1)
    t.match(await pollNow(h, 'failing', 'customer'), { pages: 0, enqueued: 0, error: /answered 503/ })
    t.match((await pollState(h, 'failing')).types[0].cursor, { token: '2', id: 'F2' }, 'a failed first page moves nothing')
    t.match(await pollNow(h, 'failing', 'customer'), { enqueued: 3, complete: true })
    await settled(h.hub)
    t.equal(await linked(h, 'failing'), 5)
  })

  t.test('a list answer of the wrong shape fails the run, naming what was expected where', async t => {
    const ledger = await source(t, startLedger)
    ledger.put('W1', { email: 'w1@example.com' })
    await putSystem(h, ledgerDoc('wrong', ledger.url))
    ledger.garble({ customers: { W1: {} } })
    t.match(await pollNow(h, 'wrong', 'customer'), { enqueued: 0, error: "wrong answered GET /customers?per_page=2&page=1 with the wrong shape: expected an array of records at 'customers', found an object" })
    ledger.garble({ customers: [{ email: 'x@example.com', version: 1 }] })
    t.match(await pollNow(h, 'wrong', 'customer'), { enqueued: 0, error: /expected an id at 'id' of record 0, found nothing/ })
    t.equal((await pollState(h, 'wrong')).types[0].cursor, null)
    t.equal(await linked(h, 'wrong'), 0)
  })

  t.test('audit mode finds new, changed and deleted records; a failed or cut-short listing deletes nothing', async t => {
    const stock = await source(t, startStockroom)
    for (let i = 1; i <= 5; i++) stock.put(`P${i}`, { sku: `SKU${i}`, title: `Product ${i}` })
    await putSystem(h, stockroomDoc('stock', stock.url, { batchLimit: 3 }))
    t.match(await pollNow(h, 'stock', 'product'), { mode: 'audit', enqueued: 3, cut: true, complete: false })
    t.match(await pollNow(h, 'stock', 'product'), { enqueued: 2, deleted: 0, complete: true })
    await settled(h.hub)
    t.equal(await linked(h, 'stock'), 5)
    t.equal(stock.calls.get, 0, 'full records are mapped as listed')
    t.match(await pollNow(h, 'stock', 'product'), { seen: 5, enqueued: 0, deleted: 0 }, 'nothing changed, nothing queued')

    stock.put('P2', { sku: 'SKU2', title: 'Renamed' })
    stock.put('P6', { sku: 'SKU6', title: 'Product 6' })
    stock.remove('P4')
    stock.remove('P5')
    // Listed now: [P1, P2] [P3, P6]; the second page fails.
    stock.failList(2)
    t.match(await pollNow(h, 'stock', 'product'), { enqueued: 1, deleted: 0, complete: false, error: /answered 503/ }, 'a failed listing deletes nothing')
    await settled(h.hub)
    t.equal(await linked(h, 'stock'), 5)
    t.match((await h.hub.pool.query("SELECT r.data->>'name' AS name FROM hub.links l JOIN hub.records r ON r.id = l.record_id WHERE l.system_id = 'stock' AND l.external_id = 'P2'")).rows, [{ name: 'Renamed' }])

    for (const i of [1, 2, 3]) stock.put(`P${i}`, { sku: `SKU${i}`, title: `Again ${i}` })
    t.match(await pollNow(h, 'stock', 'product'), { enqueued: 3, deleted: 0, cut: true, complete: false }, 'a listing cut short at the batch limit deletes nothing')
    t.match(await pollNow(h, 'stock', 'product'), { enqueued: 1, deleted: 2, complete: true }, 'a complete one does')
    await settled(h.hub)
    t.equal(await linked(h, 'stock'), 4)
    t.equal((await h.hub.pool.query("SELECT count(*)::int AS n FROM hub.poll_audit WHERE system_id = 'stock'")).rows[0].n, 4, 'the audit table holds what the source holds')
  })

  t.test('audit mode: a run that queues exactly its batch limit is cut only if deletes are left over', async t => {
    const stock = await source(t, startStockroom)
    for (let i = 1; i <= 2; i++) stock.put(`Q${i}`, { sku: `Q${i}`, title: `Q ${i}` })
    await putSystem(h, stockroomDoc('exact', stock.url, { batchLimit: 2 }))
    t.match(await pollNow(h, 'exact', 'product'), { enqueued: 2, deleted: 0, cut: false, complete: true }, 'nothing left: not cut')
    stock.put('Q1', { sku: 'Q1', title: 'Changed' })
    stock.put('Q3', { sku: 'Q3', title: 'Q 3' })
    stock.remove('Q2')
    t.match(await pollNow(h, 'exact', 'product'), { enqueued: 2, deleted: 0, cut: true, complete: true }, 'a delete left over: cut')
    t.match(await pollNow(h, 'exact', 'product'), { enqueued: 0, deleted: 1, cut: false }, 'the next run takes it')
    await settled(h.hub)
  })

  t.test('after a reset, a full pull sends nothing out for unchanged records', async t => {
    const ledger = await source(t, startLedger)
    const crm = await startHttpServer(t, (req, res) => {
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `D${Math.random()}` }))
    })
    await putSystem(h, {
      id: 'crm',
      baseUrl: crm.url,
      allowPrivateNetwork: true,
      types: { customer: { create: { path: '/customers' }, update: { path: '/customers/{id}' } } },
      flows: [{ type: 'customer', direction: 'outbound', actions: ['create', 'update'], mappings: [{ kind: 'field', from: 'email_address', to: 'email' }] }]
    })
    t.teardown(() => h.app.inject({ method: 'DELETE', url: '/v1/systems/crm', headers: h.auth }))
    for (let i = 1; i <= 3; i++) ledger.put(`R${i}`, { email: `r${i}@example.com` })
    await putSystem(h, ledgerDoc('reset', ledger.url))
    await pollNow(h, 'reset', 'customer')
    await settled(h.hub)
    t.equal(crm.received.length, 3, 'three creates')
    t.match(await pollNow(h, 'reset', 'customer'), { enqueued: 0 }, 'nothing new')
    const reset = await h.app.inject({ method: 'DELETE', url: '/v1/systems/reset/poll/customer/state', headers: h.auth })
    t.equal(reset.statusCode, 204)
    t.equal((await pollState(h, 'reset')).types[0].cursor, null)
    t.match(await pollNow(h, 'reset', 'customer'), { enqueued: 3 }, 'a full pull')
    await settled(h.hub)
    t.equal(crm.received.length, 3, 'and no outbound call: the content did not change')
  })

  t.test('two processes triggering one poll at once make one run', async t => {
    const ledger = await source(t, startLedger)
    for (let i = 1; i <= 3; i++) ledger.put(`T${i}`, { email: `t${i}@example.com` })
    await putSystem(h, ledgerDoc('twice', ledger.url))
    const other = await buildTestHub(t, { databaseUrl: h.databaseUrl, workers: false })
    const release = ledger.pause()
    const trigger = (x: TestHub) => x.app.inject({ method: 'POST', url: '/v1/systems/twice/poll/customer', headers: x.auth })
    const answers = (await Promise.all([trigger(h), trigger(other)])).map(r => ({ status: r.statusCode, ...r.json() }))
    t.same(answers.map(a => a.status), [202, 202])
    t.same(answers.map(a => a.started).sort(), [false, true], 'one started, the other was told it is running')
    t.match(answers.find(a => !a.started), { running: true })
    const again = (await trigger(other)).json()
    t.match(again, { started: false, running: true }, 'a third trigger while it runs starts nothing either')
    release()
    const jobId = answers.find(a => a.started).jobId
    const run = await waitFor(async () => { const last = (await pollState(h, 'twice')).types[0].lastRun; return last?.jobId === jobId && last }, 30_000, 'the run')
    t.match(run, { seen: 3, enqueued: 3 })
    t.equal(ledger.calls.list, run.pages, 'the source was listed by that run only')
    const { rows } = await h.hub.pool.query('SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND singleton_key = $2', [POLL, 'twice/customer'])
    t.equal(rows[0].n, 1, 'one poll job')
  })

  t.test('<type>/poll in a manual sync runs the poll as a batch; initialization loads everything as one', async t => {
    const ledger = await source(t, startLedger)
    for (let i = 1; i <= 3; i++) ledger.put(`M${i}`, { email: `m${i}@example.com` })
    await putSystem(h, ledgerDoc('manual', ledger.url, { batchLimit: 2 }))
    const sync = await h.app.inject({ method: 'POST', url: '/v1/sync', headers: h.auth, payload: { system: 'manual', scope: 'customer/poll', ids: ['all'] } })
    t.equal(sync.statusCode, 202, sync.body)
    const status = async (id: string) => (await h.app.inject({ url: `/v1/sync/${id}`, headers: h.auth })).json()
    const finished = (id: string) => waitFor(async () => { const s = await status(id); return s.finished ? s : undefined }, 30_000, 'the batch')
    t.match(await finished(sync.json().batchId), { scope: 'customer/poll', state: 'enqueued', received: { queued: 2 }, counts: { completed: 2, failed: 0 } }, 'a poll run: the batch limit applies')

    const init = await h.app.inject({ method: 'POST', url: '/v1/systems/manual/initialize/customer', headers: h.auth })
    t.equal(init.statusCode, 202, init.body)
    t.match(init.json(), { started: true, batchId: String })
    t.match(await finished(init.json().batchId), { state: 'enqueued', received: { queued: 3 }, counts: { completed: 3, failed: 0 } }, 'every record, no batch limit')
    t.match((await pollState(h, 'manual')).types[0], { lastRun: { initialize: true, enqueued: 3 }, cursor: { id: 'M3' } })
  })

  t.test('schedules follow the systems without a restart', async t => {
    const ledger = await source(t, startLedger)
    const schedule = async () => (await h.hub.boss.getSchedules(POLL, 'sched/customer'))[0]?.cron
    await putSystem(h, ledgerDoc('sched', ledger.url, { schedule: '*/5 * * * *' }))
    t.equal(await waitFor(async () => (await schedule()) === '*/5 * * * *' && 'ok', 10_000, 'the schedule'), 'ok')
    await putSystem(h, ledgerDoc('sched', ledger.url, { schedule: '15 3 * * *' }))
    t.equal(await waitFor(async () => (await schedule()) === '15 3 * * *' && 'ok', 10_000, 'the new schedule'), 'ok')
    t.match((await pollState(h, 'sched')).types[0], { schedule: '15 3 * * *', nextRun: /T03:15:00/ })
    await h.app.inject({ method: 'DELETE', url: '/v1/systems/sched', headers: h.auth })
    t.equal(await waitFor(async () => (await schedule()) === undefined && 'gone', 10_000, 'the schedule to go'), 'gone')
  })

  t.test('polling what does not poll is a 404 or 422 naming what is missing', async t => {
    const ledger = await source(t, startLedger)
    await putSystem(h, ledgerDoc('named', ledger.url))
    const post = (url: string, payload?: object) => h.app.inject({ method: 'POST', url, headers: h.auth, payload })
    t.match((await post('/v1/systems/nope/poll/customer')).json(), { error: { code: 'not_found', message: "no system 'nope'" } })
    const res = await post('/v1/systems/named/poll/product')
    t.equal(res.statusCode, 422)
    t.match(res.json(), { error: { message: /named does not poll product: it needs an enabled inbound product flow with poll, and types\.product\.list/ } })
    t.equal((await post('/v1/systems/named/poll/widget')).statusCode, 400)
    t.equal((await post('/v1/systems/named/initialize/product')).statusCode, 422)
    t.equal((await h.app.inject({ method: 'DELETE', url: '/v1/systems/named/poll/product/state', headers: h.auth })).statusCode, 422)
    const sync = await post('/v1/sync', { system: 'named', scope: 'order/poll', ids: ['x'] })
    t.equal(sync.statusCode, 422)
    const { rows } = await h.hub.pool.query("SELECT count(*)::int AS n FROM hub.sync_batches WHERE system_id = 'named'")
    t.equal(rows[0].n, 0, 'no batch was stored')
    t.equal(ledger.calls.list, 0)
  })

  t.test('a type polled whole without a get takes no id to fetch: a webhook or sync of it is a 400 saying why', async t => {
    const key = 'stockroom-webhook-key-0001'
    const doc = stockroomDoc('whole', 'http://127.0.0.1:1')
    await putSystem(h, { ...doc, webhooks: { keys: [key] }, flows: [{ ...doc.flows[0], actions: ['create', 'update', 'delete'] }] })
    const why = 'whole has no types.product.get, so a product cannot be fetched by id (its poll lists whole records)'
    const hook = await h.app.inject({ method: 'POST', url: '/v1/hooks/whole', headers: { authorization: `Bearer ${key}` }, payload: { scope: 'product/update', id: 'P1' } })
    t.equal(hook.statusCode, 400)
    t.equal(hook.json().error.message, `scope: 'product/update' is not a scope whole may send (${why}); accepted: product/delete`)
    const sync = await h.app.inject({ method: 'POST', url: '/v1/sync', headers: h.auth, payload: { system: 'whole', scope: 'product/create', ids: ['P1'] } })
    t.equal(sync.statusCode, 400)
    t.match(sync.json().error.message, `${why}; accepted: product/delete`)
    const csv = await h.app.inject({ method: 'POST', url: '/v1/sync?system=whole&scope=product/delete', headers: { ...h.auth, 'content-type': 'text/csv' }, payload: 'id,scope\nP1,product/update\nP2\n' })
    t.equal(csv.statusCode, 202)
    t.match(csv.json(), { queued: 1, rejected: [{ line: 2, id: 'P1', reason: why }] }, 'a CSV line asking to fetch is rejected, the delete queued')
    const { rows } = await h.hub.pool.query("SELECT count(*)::int AS n FROM hub.hook_backlog WHERE system_id = 'whole'")
    t.equal(rows[0].n, 0, 'the refused webhook stored nothing')
  })

  t.test('a worker that stops ends its poll between pages: what was queued stays, the job completes, and nothing shows as running', async t => {
    const own = await buildTestHub(t, { workers: false })
    const ledger = await source(t, startLedger)
    for (let i = 1; i <= 6; i++) ledger.put(`S${i}`, { email: `s${i}@example.com` })
    await putSystem(own, ledgerDoc('stopping', ledger.url))
    const workers = await startWorkers(own.hub)
    const release = ledger.pause()
    const res = await own.app.inject({ method: 'POST', url: '/v1/systems/stopping/poll/customer', headers: own.auth })
    const { jobId } = res.json()
    await waitFor(() => ledger.calls.list === 1, 10_000, 'the first page to be asked for')
    const stopping = workers.stop()
    release()
    await stopping
    const state = (await pollState(own, 'stopping')).types[0]
    t.match(state, { running: null, cursor: { token: '2', id: 'S2' }, lastRun: { jobId, pages: 1, enqueued: 2, complete: false, error: STOPPED } })
    t.equal(ledger.calls.list, 1, 'no second page was asked for')
    const job = await own.hub.pool.query('SELECT state FROM pgboss.job WHERE id = $1', [jobId])
    t.equal(job.rows[0].state, 'completed', 'the job completed within the stop, rather than failing at its heartbeat later')
    // A process killed mid-run leaves its report as current; its job being over says otherwise.
    await own.hub.pool.query("UPDATE hub.poll_state SET current = last_run WHERE system_id = 'stopping'")
    t.equal((await pollState(own, 'stopping')).types[0].running, null, 'a run whose job is over is not shown as running')
  })

  t.test('2,500 changes with a batch limit of 1,000 arrive in three runs, all of them', async t => {
    const stock = await source(t, startStockroom)
    for (let i = 0; i < 2500; i++) stock.put(`B${i}`, { sku: `B${i}`, title: `Bulk ${i}` })
    await putSystem(h, { ...stockroomDoc('bulk', stock.url, {}, 1000), throttle: { maxConcurrent: 16 } })
    const runs = []
    for (let i = 0; i < 4; i++) runs.push((await pollNow(h, 'bulk', 'product')).enqueued)
    t.same(runs, [1000, 1000, 500, 0])
    // Handed to the inbound pipeline, each once (the other tests follow jobs through it).
    const { rows } = await h.hub.pool.query("SELECT count(DISTINCT data->>'id')::int AS ids, count(*)::int AS jobs FROM pgboss.job WHERE name = 'inbound' AND data->>'system' = 'bulk'")
    t.same(rows[0], { ids: 2500, jobs: 2500 })
  })
})
