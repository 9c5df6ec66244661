import t from 'tap'
import { startWorkers } from '../src/workers.ts'
import { buildTestHub } from './helpers/hub.ts'
import { exampleConfig, startPipeline, waitFor } from './helpers/pipeline.ts'

const customer = {
  email: 'ada@example.com',
  first_name: 'Ada',
  last_name: 'Lovelace',
  company: 'Analytical Engines',
  phone: '+44 20 1234',
  note: 'VIP',
  tags: ['vip', 'newsletter'],
  accepts_marketing: true,
  addresses: [{ id: 'a1', kind: 'billing', line1: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' }]
}

t.test('a customer created in the shop reaches the CRM and the ERP, mapped and linked', async t => {
  const p = await startPipeline(t)
  const created = p.shop.put('customer', customer)
  await p.synced()

  const [crm] = p.crm.all('customer')
  t.ok(crm, 'the CRM has the customer')
  t.match(crm, { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', notes: 'VIP', subscribed: true })
  const [erp] = p.erp.all('customer')
  t.match(erp, { name: 'Ada Lovelace', email: 'ada@example.com', billing: { street: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' }, tags: ['vip', 'newsletter'] })

  const res = await p.app.inject({ url: `/v1/records/customer/by-link/shop/${created.id}`, headers: p.auth })
  t.equal(res.statusCode, 200)
  const record = res.json()
  t.equal(crm.externalId, record.data.customer_number, "the CRM's externalId carries our customer number")
  t.equal(erp.customerNo, record.data.customer_number)
  t.same(record.links.map((l: { systemId: string, externalId: string }) => [l.systemId, l.externalId]).sort(),
    [['crm', crm.id], ['erp', erp.id], ['shop', created.id]], 'links recorded for all three systems')
  t.match(record.history, [
    { systemId: 'shop', direction: 'inbound', outcome: 'created' }
  ])
  t.ok(record.history.some((h: { systemId: string, outcome: string }) => h.systemId === 'crm' && h.outcome === 'created'))
  t.ok(record.history.some((h: { systemId: string, outcome: string }) => h.systemId === 'erp' && h.outcome === 'created'))
})

const history = async (p: Awaited<ReturnType<typeof startPipeline>>, shopId: string) => {
  const res = await p.app.inject({ url: `/v1/records/customer/by-link/shop/${shopId}`, headers: p.auth })
  return res.json() as { id: string, data: Record<string, unknown>, history: Array<{ systemId: string, direction: string, action: string, outcome: string, reason: string | null }> }
}

t.test('updates update (never duplicate) and send only the mapped fields', async t => {
  const p = await startPipeline(t)
  const created = p.shop.put('customer', customer)
  await p.synced()
  p.crm.resetCalls()
  p.erp.resetCalls()

  p.shop.patch('customer', created.id, { first_name: 'Augusta' })
  await p.synced()
  p.shop.patch('customer', created.id, { note: 'Countess' })
  await p.synced()

  t.equal(p.crm.all('customer').length, 1, 'one CRM customer')
  t.equal(p.erp.all('customer').length, 1, 'one ERP customer')
  t.match(p.crm.all('customer')[0], { firstName: 'Augusta', notes: 'Countess' })
  t.equal(p.erp.all('customer')[0].name, 'Augusta Lovelace')
  const puts = p.crm.calls({ method: 'PUT' })
  t.equal(puts.length, 2, 'two updates, no creates')
  t.equal(p.crm.calls({ method: 'POST', pathPrefix: '/customers' }).length, 0)
  for (const call of puts) {
    t.same(Object.keys(call.body as object).sort(), ['email', 'externalId', 'firstName', 'lastName', 'notes'],
      'only mapped fields are sent (the subscription goes through its follow-up call)')
  }
})

t.test('a CRM customer with the same email before the first sync is linked, not duplicated', async t => {
  const p = await startPipeline(t)
  const existing = p.crm.put('customer', { email: 'ada@example.com', firstName: 'A.', subscribed: true })
  const created = p.shop.put('customer', customer)
  await p.synced()
  t.equal(p.crm.all('customer').length, 1, 'still one CRM customer')
  t.equal(p.crm.calls({ method: 'POST', pathPrefix: '/customers' }).length, 0, 'no create was sent')
  t.match(p.crm.get('customer', existing.id), { firstName: 'Ada', lastName: 'Lovelace' }, 'update-and-link: updated with the mapped fields')
  const record = await history(p, created.id)
  t.ok(record.history.some(h => h.systemId === 'crm' && h.outcome === 'linked'), 'history says linked')
  const res = await p.app.inject({ url: `/v1/records/customer/by-link/crm/${existing.id}`, headers: p.auth })
  t.equal(res.json().id, record.id, 'the existing CRM customer is linked to the hub record')
})

t.test('a delete reaches the ERP; the CRM is skipped with the reason in the history', async t => {
  const p = await startPipeline(t)
  const created = p.shop.put('customer', customer)
  await p.synced()
  t.equal(p.erp.all('customer').length, 1)
  p.shop.remove('customer', created.id)
  await p.synced()
  t.equal(p.erp.all('customer').length, 0, 'deleted in the ERP')
  t.equal(p.crm.all('customer').length, 1, 'the CRM keeps it (no delete there)')
  t.equal(p.crm.calls({ method: 'DELETE' }).length, 0, 'no delete was attempted')
  const record = await history(p, created.id)
  t.ok(record.history.some(h => h.systemId === 'crm' && h.action === 'delete' && h.outcome === 'skipped' && /delete not supported/.test(h.reason ?? '')))
  t.ok(record.history.some(h => h.systemId === 'erp' && h.action === 'delete' && h.outcome === 'deleted'))
  const res = await p.app.inject({ url: `/v1/records/customer/${record.id}`, headers: p.auth })
  t.ok(res.json().deletedAt, 'soft deleted in the hub')
})

t.test('the subscribe follow-up is called only when the state differs', async t => {
  const p = await startPipeline(t)
  const subscribeCalls = () => p.crm.calls({ pathPrefix: '/subscriptions/subscribe' }).length
  const unsubscribeCalls = () => p.crm.calls({ pathPrefix: '/subscriptions/unsubscribe' }).length
  const created = p.shop.put('customer', customer)
  await p.synced()
  t.equal(subscribeCalls(), 1, 'subscribed on create (the CRM starts unsubscribed)')
  t.equal(p.crm.all('customer')[0].subscribed, true)

  p.shop.patch('customer', created.id, { note: 'changed, still subscribed' })
  await p.synced()
  t.equal(subscribeCalls(), 1, 'no call when the state already matches')

  p.shop.patch('customer', created.id, { accepts_marketing: false })
  await p.synced()
  t.equal(unsubscribeCalls(), 1, 'unsubscribed when it flips')
  t.equal(p.crm.all('customer')[0].subscribed, false)
  t.equal(subscribeCalls(), 1)
})

const postHook = (p: Awaited<ReturnType<typeof startPipeline>>, body: unknown) => fetch(`${p.url}/v1/hooks/shop`, {
  method: 'POST',
  headers: { authorization: `Bearer ${p.configEnv.SHOP_WEBHOOK_KEY}`, 'content-type': 'application/json' },
  body: JSON.stringify(body)
})

const outboundJobs = async (p: Awaited<ReturnType<typeof startPipeline>>) =>
  (await p.hub.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'outbound'")).rows[0].n as number

t.test('50 concurrent webhooks for one record coalesce into the one fetch waiting for it', async t => {
  // Workers start after the burst, so the outcome does not depend on how fast this machine
  // answers 50 requests: every change to a record whose fetch is waiting joins that fetch.
  const p = await startPipeline(t, { workers: false })
  const created = p.shop.put('customer', customer)
  p.shop.patch('customer', created.id, { note: 'busy day' })
  await p.shop.flushWebhooks()
  const answers = await Promise.all(Array.from({ length: 50 }, () => postHook(p, { scope: 'customer/update', id: created.id })))
  t.same([...new Set(answers.map(a => a.status))], [202])
  const receipts = await Promise.all(answers.map(a => a.json() as Promise<{ accepted: number, coalesced: number }>))
  t.equal(receipts.reduce((n, r) => n + r.coalesced, 0), 50, 'all 50 joined the fetch already waiting')
  const workers = await startWorkers(p.hub)
  t.teardown(() => workers.stop())
  await p.settled()
  t.equal(p.shop.calls({ method: 'GET', pathPrefix: `/customers/${created.id}` }).length, 1, 'one fetch')
  t.equal(p.crm.all('customer')[0].notes, 'busy day', 'the latest state arrived')
})

t.test('re-posting an unchanged record causes no outbound job', async t => {
  const p = await startPipeline(t)
  const created = p.shop.put('customer', customer)
  await p.synced()
  const before = await outboundJobs(p)
  p.crm.resetCalls()
  t.equal((await postHook(p, { scope: 'customer/update', id: created.id })).status, 202)
  await p.settled()
  t.equal(await outboundJobs(p), before, 'no outbound job was enqueued')
  t.equal(p.crm.calls().length, 0, 'the CRM heard nothing')
  const record = await history(p, created.id)
  t.equal(record.history.filter(h => h.direction === 'inbound').at(-1)?.outcome, 'unchanged')
})

t.test('a two-way change does not bounce back to its origin, and echoes stop', async t => {
  const p = await startPipeline(t)
  const erpKey = 'erp-webhook-key-0123456789'
  await p.putSystem('erp', doc => {
    doc.webhooks = { keys: [erpKey] }
    doc.flows.push({ type: 'customer', direction: 'inbound', actions: ['create', 'update'], mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] })
  })
  // The ERP notifies the hub of every write, including the hub's own: the echo case.
  p.erp.emitTo({ url: `${p.url}/v1/hooks/erp`, key: erpKey })
  const created = p.shop.put('customer', customer)
  await p.synced()
  await p.erp.flushWebhooks()
  await p.settled()
  t.ok(p.erp.emitted >= 1, 'the ERP echoed our write back')
  const afterEcho = await history(p, created.id)
  t.ok(afterEcho.history.some(h => h.systemId === 'erp' && h.direction === 'inbound' && h.outcome === 'unchanged'), 'the echo changed nothing')
  t.equal(p.erp.calls({ method: 'PUT' }).length, 0, 'and caused no write back to the ERP')

  p.crm.resetCalls()
  p.erp.resetCalls()
  const [erpCustomer] = p.erp.all('customer')
  p.erp.patch('customer', erpCustomer.id, { email: 'ada@lovelace.example' })
  await p.erp.flushWebhooks()
  await p.settled()
  t.equal(p.crm.all('customer')[0].email, 'ada@lovelace.example', 'the change reached the CRM')
  t.equal(p.erp.calls({ method: 'PUT' }).length + p.erp.calls({ method: 'POST' }).length, 0, 'nothing was sent back to the ERP')
  const record = await history(p, created.id)
  t.equal(record.data.email_address, 'ada@lovelace.example')
  t.equal(record.data.first_name, 'Ada', 'fields the ERP does not map are kept')
})

t.test('a destination answering 503 twice, then 200, gets the record; Retry-After is honoured', async t => {
  const p = await startPipeline(t)
  p.crm.failNext(2, 503, { method: 'GET', pathPrefix: '/customers', retryAfterSeconds: 2 })
  const created = p.shop.put('customer', customer)
  await p.synced()
  t.equal(p.crm.all('customer').length, 1, 'delivered after the retries')
  const record = await history(p, created.id)
  const retries = record.history.filter(h => h.systemId === 'crm' && h.outcome === 'retrying')
  t.equal(retries.length, 2)
  t.match(retries[0].reason, /answered 503.*next in 2 s/, 'waited as long as Retry-After asked')
  const errors = await p.app.inject({ url: '/v1/errors', headers: p.auth })
  t.same(errors.json().errors, [], 'no final failure')
})

t.test('a 422 fails at once with its message in the error log', async t => {
  const p = await startPipeline(t)
  p.crm.failNext(1, 422, { method: 'POST', pathPrefix: '/customers', body: { error: 'email domain is blocked' } })
  const created = p.shop.put('customer', customer)
  await p.synced()
  t.equal(p.crm.calls({ method: 'POST', pathPrefix: '/customers' }).length, 1, 'not retried')
  const errors = (await p.app.inject({ url: '/v1/errors?system=crm', headers: p.auth })).json().errors
  t.equal(errors.length, 1)
  t.match(errors[0], { system: 'crm', type: 'customer', direction: 'outbound', scope: 'customer/create', httpStatus: 422, message: /email domain is blocked/ })
  t.equal(p.erp.all('customer').length, 1, 'the other destination is unaffected')
  const record = await history(p, created.id)
  t.ok(record.history.some(h => h.systemId === 'crm' && h.outcome === 'failed'))
})

t.test('a hanging destination times out and is retried', async t => {
  const p = await startPipeline(t)
  await p.putSystem('crm', doc => { doc.timeoutMs = 300 })
  p.crm.hangNext(1, 2_000, { method: 'GET', pathPrefix: '/customers' })
  const created = p.shop.put('customer', customer)
  await p.synced()
  t.equal(p.crm.all('customer').length, 1, 'delivered on the retry')
  const record = await history(p, created.id)
  t.match(record.history.find(h => h.systemId === 'crm' && h.outcome === 'retrying')?.reason, /timed out after 300 ms/)
})

t.test('a record gone from the source (404) is recorded and skipped, not retried', async t => {
  const p = await startPipeline(t)
  t.equal((await postHook(p, { scope: 'customer/update', id: '999999' })).status, 202)
  await p.settled()
  t.equal(p.shop.calls({ method: 'GET', pathPrefix: '/customers/999999' }).length, 1, 'fetched once')
  const { rows } = await p.hub.pool.query("SELECT outcome, reason FROM hub.history WHERE system_id = 'shop' AND external_id = '999999'")
  t.match(rows, [{ outcome: 'skipped', reason: /not found in shop \(404\)/ }])
  t.equal((await p.app.inject({ url: '/v1/errors', headers: p.auth })).json().errors.length, 0)
})

t.test("a system's maxConcurrent holds across two worker processes, and a slow system starves no other", async t => {
  const p = await startPipeline(t)
  // A second hub on the same database: its workers compete for the same jobs.
  await buildTestHub(t, { databaseUrl: p.databaseUrl, configEnv: p.configEnv, env: { HUB_CONFIG: exampleConfig } })
  await p.putSystem('crm', doc => { doc.throttle = { maxConcurrent: 1 } })
  p.crm.latency(50)
  for (let i = 0; i < 12; i++) p.shop.put('customer', { ...customer, email: `c${i}@example.com` })
  await p.shop.flushWebhooks()
  await waitFor(() => p.erp.all('customer').length === 12, 20_000, 'the ERP to have every customer')
  t.ok(p.crm.all('customer').length < 12, 'the ERP finished while the slow CRM was still working')
  await p.settled(30_000)
  t.equal(p.crm.all('customer').length, 12)
  t.equal(p.crm.maxInFlight, 1, 'never more than one call at a time to the CRM')
})
