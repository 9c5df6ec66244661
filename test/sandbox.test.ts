// The sandbox systems over real HTTP: auth, each system's API semantics, fault injection,
// call log and webhook emission.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { buildTestHub } from './helpers/hub.ts'
import { pollNow } from './helpers/poll.ts'
import { waitFor } from './helpers/pipeline.ts'
import { startCrm, startErp, startSandbox, startShop } from '../sandbox/index.ts'

const SHOP = { authorization: 'Bearer shop-token' }
const CRM = { 'x-api-key': 'crm-key' }
const ERP = { authorization: `Basic ${Buffer.from('erp:erp-pass').toString('base64')}` }

async function call(url: string, headers: Record<string, string>, method = 'GET', body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
}

// A small webhook receiver; answers after `delayMs` so flushWebhooks has something to wait for.
async function startReceiver(delayMs = 0) {
  const received: { url?: string; headers: IncomingHttpHeaders; body: any }[] = []
  const server = createServer((req, res) => {
    let data = ''
    req.on('data', (c) => (data += c))
    req.on('end', () => {
      setTimeout(() => {
        received.push({ url: req.url, headers: req.headers, body: JSON.parse(data) })
        res.writeHead(202).end()
      }, delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

t.test('every system rejects missing or wrong credentials with 401 JSON', async (t) => {
  const sb = await startSandbox()
  t.teardown(() => sb.close())
  const cases: { url: string; good: Record<string, string>; bad: Record<string, string> }[] = [
    { url: `${sb.shop.url}/customers`, good: SHOP, bad: { authorization: 'Bearer nope' } },
    { url: `${sb.crm.url}/customers`, good: CRM, bad: { 'x-api-key': 'nope' } },
    { url: `${sb.erp.url}/api/customers`, good: ERP, bad: { authorization: `Basic ${Buffer.from('erp:x').toString('base64')}` } },
  ]
  for (const c of cases) {
    const none = await call(c.url, {})
    t.equal(none.status, 401, `${c.url} without credentials`)
    t.same(none.body, { error: 'unauthorized' })
    t.equal((await call(c.url, c.bad)).status, 401, `${c.url} with wrong credentials`)
    t.equal((await call(c.url, c.good)).status, 200, `${c.url} with the right credentials`)
  }
  t.equal((await call(`${sb.erp.url}/api/customers`, {})).headers.get('www-authenticate'), 'Basic realm="erp"')
})

t.test('custom credentials are honoured', async (t) => {
  const shop = await startShop({ token: 'other' })
  t.teardown(() => shop.close())
  t.equal((await call(`${shop.url}/customers`, SHOP)).status, 401)
  t.equal((await call(`${shop.url}/customers`, { authorization: 'Bearer other' })).status, 200)
})

t.test('shop: get by id and 404', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const c = shop.put('customer', { email: 'a@x.io', first_name: 'Ann', tags: ['vip'], addresses: [] })
  t.match(c, { id: /^\d+$/, email: 'a@x.io', createdAt: String, updatedAt: String })
  const got = await call(`${shop.url}/customers/${c.id}`, SHOP)
  t.equal(got.status, 200)
  t.same(got.body, c)
  const missing = await call(`${shop.url}/orders/nope`, SHOP)
  t.equal(missing.status, 404)
  t.same(missing.body, { error: 'not found' })
})

t.test('shop: updatedAt strictly increases even within one millisecond', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const stamps = Array.from({ length: 50 }, (_, i) => shop.put('product', { sku: `S${i}` }).updatedAt)
  for (let i = 1; i < stamps.length; i++) t.ok(stamps[i]! > stamps[i - 1]!, `stamp ${i} after ${i - 1}`)
  const first = shop.all('product')[0]!
  const again = shop.patch('product', first.id, { stock: 3 })
  t.ok(again.updatedAt > stamps[49]!, 'a patch moves updatedAt past every earlier change')
  t.equal(again.createdAt, first.createdAt, 'createdAt is kept')
})

t.test('shop: list by modified_since pages with an opaque cursor', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const made = Array.from({ length: 7 }, (_, i) => shop.put('customer', { email: `c${i}@x.io` }))

  // walk every page
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const q: string = cursor ? `limit=3&cursor=${encodeURIComponent(cursor)}` : 'limit=3'
    const res = await call(`${shop.url}/customers?${q}`, SHOP)
    t.equal(res.status, 200)
    t.ok(res.body.items.length <= 3)
    seen.push(...res.body.items.map((r: { id: string }) => r.id))
    cursor = res.body.next
    pages++
  } while (cursor)
  t.equal(pages, 3)
  t.same(seen, made.map((r) => r.id), 'all records once, in updatedAt order')

  // only records changed strictly after modified_since
  const since = made[3]!.updatedAt
  const after = await call(`${shop.url}/customers?modified_since=${encodeURIComponent(since)}`, SHOP)
  t.same(after.body.items.map((r: { id: string }) => r.id), made.slice(4).map((r) => r.id))
  t.equal(after.body.next, null)

  // a change moves a record to the end; a delete removes it
  shop.patch('customer', made[0]!.id, { email: 'changed@x.io' })
  t.ok(shop.remove('customer', made[5]!.id))
  const later = await call(`${shop.url}/customers?modified_since=${encodeURIComponent(since)}`, SHOP)
  t.same(later.body.items.map((r: { id: string }) => r.id), [made[4]!.id, made[6]!.id, made[0]!.id])
  t.equal(later.body.items[2].email, 'changed@x.io')
  t.equal((await call(`${shop.url}/customers/${made[5]!.id}`, SHOP)).status, 404, 'hard-deleted')

  t.equal((await call(`${shop.url}/customers?limit=0`, SHOP)).status, 400)
  t.equal((await call(`${shop.url}/customers?modified_since=yesterday`, SHOP)).status, 400)
  t.equal((await call(`${shop.url}/customers?cursor=garbage`, SHOP)).status, 400)
  const capped = Array.from({ length: 1005 }, (_, i) => shop.put('order', { number: i }))
  const big = await call(`${shop.url}/orders?limit=5000`, SHOP)
  t.equal(big.body.items.length, 1000, 'limit is capped at 1000')
  t.equal(capped.length, 1005)
  t.type(big.body.next, 'string')
})

t.test('shop: POST creates and PUT merges, so it can be a destination', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const created = await call(`${shop.url}/products`, SHOP, 'POST', { sku: 'A1', title: 'Mug', price: 9.5 })
  t.equal(created.status, 201)
  t.match(created.body, { id: String, sku: 'A1', title: 'Mug', price: 9.5 })
  const put = await call(`${shop.url}/products/${created.body.id}`, SHOP, 'PUT', { price: 12 })
  t.equal(put.status, 200)
  t.match(put.body, { id: created.body.id, sku: 'A1', title: 'Mug', price: 12 })
  t.equal(shop.get('product', created.body.id)!.price, 12)
  t.equal((await call(`${shop.url}/products/nope`, SHOP, 'PUT', { price: 1 })).status, 404)
  t.equal((await call(`${shop.url}/products`, SHOP, 'POST', [1, 2])).status, 400)
})

t.test('crm: create, de-duplicate by email, validation', async (t) => {
  const crm = await startCrm()
  t.teardown(() => crm.close())
  const url = `${crm.url}/customers`

  const first = await call(url, CRM, 'POST', { email: 'Ann@X.io', firstName: 'Ann', externalId: 'CUST-1' })
  t.equal(first.status, 201)
  t.match(first.body, { id: /^\d+$/, email: 'Ann@X.io', firstName: 'Ann', lastName: null, externalId: 'CUST-1', subscribed: false })

  const again = await call(url, CRM, 'POST', { email: 'ann@x.io', lastName: 'Lee', subscribed: true })
  t.equal(again.status, 200, 'existing email updates instead of creating')
  t.equal(again.body.id, first.body.id)
  t.match(again.body, { email: 'ann@x.io', firstName: 'Ann', lastName: 'Lee', externalId: 'CUST-1' })
  t.equal(again.body.subscribed, false, 'subscribed only changes through /subscriptions')
  t.equal(crm.all('customer').length, 1)

  for (const body of [{ firstName: 'No' }, { email: 'not-an-email' }, { email: 42 }]) {
    const bad = await call(url, CRM, 'POST', body)
    t.equal(bad.status, 422, JSON.stringify(body))
    t.same(bad.body, { error: 'email is required' })
  }
  t.equal((await call(url, CRM, 'POST', { email: 'b@x.io', notes: 5 })).status, 422, 'non-string field')

  const byEmail = await call(`${url}?email=${encodeURIComponent('ANN@x.io')}`, CRM)
  t.same(byEmail.body.customers.map((c: { id: string }) => c.id), [first.body.id])
  t.same((await call(`${url}?email=none@x.io`, CRM)).body, { customers: [] })
  t.equal((await call(`${url}/${first.body.id}`, CRM)).body.lastName, 'Lee')
  t.equal((await call(`${url}/999`, CRM)).status, 404)
  t.equal(crm.findByEmail('ANN@X.IO')?.id, first.body.id)
})

t.test('crm: PUT merges only sent fields, null clears, email conflicts 409, delete 405', async (t) => {
  const crm = await startCrm()
  t.teardown(() => crm.close())
  const a = crm.put('customer', { email: 'a@x.io', firstName: 'A', lastName: 'Alpha', notes: 'keep', subscribed: false })
  crm.put('customer', { email: 'b@x.io', firstName: 'B' })

  const put = await call(`${crm.url}/customers/${a.id}`, CRM, 'PUT', { firstName: 'Anna', lastName: null })
  t.equal(put.status, 200)
  t.match(put.body, { id: a.id, email: 'a@x.io', firstName: 'Anna', lastName: null, notes: 'keep' })

  const clash = await call(`${crm.url}/customers/${a.id}`, CRM, 'PUT', { email: 'B@x.io' })
  t.equal(clash.status, 409)
  t.equal(crm.get('customer', a.id)!.email, 'a@x.io', 'nothing changed on conflict')
  t.equal((await call(`${crm.url}/customers/${a.id}`, CRM, 'PUT', { email: 'A@X.io' })).status, 200, 'own email, other case')
  t.equal((await call(`${crm.url}/customers/${a.id}`, CRM, 'PUT', { email: null })).status, 422)
  t.equal((await call(`${crm.url}/customers/404404`, CRM, 'PUT', { firstName: 'x' })).status, 404)

  const del = await call(`${crm.url}/customers/${a.id}`, CRM, 'DELETE')
  t.equal(del.status, 405)
  t.same(del.body, { error: 'customers cannot be deleted' })
  t.ok(crm.get('customer', a.id), 'still there')
})

t.test('crm: subscribe/unsubscribe set the flag and are counted in the call log', async (t) => {
  const crm = await startCrm()
  t.teardown(() => crm.close())
  const c = crm.put('customer', { email: 'sub@x.io', subscribed: false })
  crm.resetCalls()

  const sub = await call(`${crm.url}/subscriptions/subscribe`, CRM, 'POST', { email: 'SUB@x.io' })
  t.equal(sub.status, 200)
  t.same(sub.body, { ok: true })
  t.equal(crm.get('customer', c.id)!.subscribed, true)
  await call(`${crm.url}/subscriptions/unsubscribe`, CRM, 'POST', { email: 'sub@x.io' })
  t.equal(crm.get('customer', c.id)!.subscribed, false)
  t.equal((await call(`${crm.url}/subscriptions/subscribe`, CRM, 'POST', { email: 'ghost@x.io' })).status, 404)
  t.equal((await call(`${crm.url}/subscriptions/subscribe`, CRM, 'POST', {})).status, 422)

  t.equal(crm.calls({ pathPrefix: '/subscriptions/' }).length, 4)
  t.equal(crm.calls({ pathPrefix: '/subscriptions/subscribe' }).length, 3)
  const [first] = crm.calls({ method: 'post', pathPrefix: '/subscriptions/unsubscribe' })
  t.match(first, { method: 'POST', path: '/subscriptions/unsubscribe', body: { email: 'sub@x.io' }, status: 200 })
  t.equal(first!.headers['x-api-key'], 'crm-key')
  crm.resetCalls()
  t.same(crm.calls(), [])
})

t.test('erp: CRUD over basic auth, paging by updated_after', async (t) => {
  const erp = await startErp()
  t.teardown(() => erp.close())
  const base = `${erp.url}/api/customers`

  const created = await call(base, ERP, 'POST', { name: 'Acme', email: 'ops@acme.io', billing: { city: 'Oslo' } })
  t.equal(created.status, 201)
  t.match(created.body, { id: 'C-0001', customerNo: String, name: 'Acme', tags: [], createdAt: String, updatedAt: String })
  t.equal(created.headers.get('location'), '/api/customers/C-0001')

  t.same((await call(`${base}/C-0001`, ERP)).body, created.body)
  const put = await call(`${base}/C-0001`, ERP, 'PUT', { phone: '123', billing: { city: 'Bergen', zip: '5003' } })
  t.equal(put.status, 200)
  t.match(put.body, { id: 'C-0001', name: 'Acme', phone: '123', billing: { city: 'Bergen', zip: '5003' } })
  t.equal((await call(`${base}/C-9999`, ERP, 'PUT', {})).status, 404)

  const item = await call(`${erp.url}/api/items`, ERP, 'POST', { itemNo: 'SKU-1', unitPrice: 5, qty: 2 })
  t.equal(item.body.id, 'I-0001')
  t.equal(erp.get('product', 'I-0001')!.itemNo, 'SKU-1', 'items are the product collection')
  t.equal((await call(`${erp.url}/api/orders`, ERP, 'POST', { anything: [1] })).body.id, 'O-0001')

  for (let i = 0; i < 4; i++) await call(base, ERP, 'POST', { name: `N${i}` })
  const p1 = await call(`${base}?pageSize=2`, ERP)
  t.same(p1.body.data.map((r: { id: string }) => r.id), ['C-0001', 'C-0002'])
  t.equal(p1.body.hasMore, true)
  const p3 = await call(`${base}?pageSize=2&page=3`, ERP)
  t.same({ ids: p3.body.data.map((r: { id: string }) => r.id), page: p3.body.page, hasMore: p3.body.hasMore }, { ids: ['C-0005'], page: 3, hasMore: false })
  const since = erp.get('customer', 'C-0003')!.updatedAt
  const changed = await call(`${base}?updated_after=${encodeURIComponent(since)}`, ERP)
  t.same(changed.body.data.map((r: { id: string }) => r.id), ['C-0004', 'C-0005'])

  const del = await call(`${base}/C-0002`, ERP, 'DELETE')
  t.equal(del.status, 204)
  t.equal((await call(`${base}/C-0002`, ERP)).status, 404)
  t.equal((await call(`${base}/C-0002`, ERP, 'DELETE')).status, 404)
  t.equal(erp.all('customer').length, 4)
})

t.test('failNext answers the next n matching requests with the given status', async (t) => {
  const shop = await startShop()
  t.teardown(() => shop.close())
  const c = shop.put('customer', { email: 'f@x.io' })

  shop.failNext(2, 429, { retryAfterSeconds: 3 })
  const first = await call(`${shop.url}/customers/${c.id}`, {}) // before auth: credentials don't matter
  t.equal(first.status, 429)
  t.equal(first.headers.get('retry-after'), '3')
  t.equal((await call(`${shop.url}/customers/${c.id}`, SHOP)).status, 429)
  t.equal((await call(`${shop.url}/customers/${c.id}`, SHOP)).status, 200, 'only n requests fail')

  shop.failNext(1, 503, { pathPrefix: '/orders', body: { error: 'maintenance' } })
  t.equal((await call(`${shop.url}/customers/${c.id}`, SHOP)).status, 200, 'other paths unaffected')
  const failed = await call(`${shop.url}/orders`, SHOP)
  t.same({ status: failed.status, body: failed.body, retry: failed.headers.get('retry-after') }, { status: 503, body: { error: 'maintenance' }, retry: null })
  t.equal((await call(`${shop.url}/orders`, SHOP)).status, 200)

  shop.failNext(1, 500, { method: 'POST' })
  t.equal((await call(`${shop.url}/orders`, SHOP)).status, 200, 'GET unaffected by a POST rule')
  t.equal((await call(`${shop.url}/orders`, SHOP, 'POST', { number: 1 })).status, 500)
  t.equal(shop.all('order').length, 0, 'a failed write changes nothing')
  t.same(shop.calls().map((x) => x.status), [429, 429, 200, 200, 503, 200, 200, 500], 'every request is logged with its status')
})

t.test('hangNext delays responses so client timeouts fire; latency slows every request', async (t) => {
  const erp = await startErp()
  t.teardown(() => erp.close())
  erp.hangNext(1, 5_000)
  await t.rejects(fetch(`${erp.url}/api/items`, { headers: ERP, signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' })
  t.equal((await call(`${erp.url}/api/items`, ERP)).status, 200, 'only one request hangs')

  erp.latency(60)
  const start = performance.now()
  t.equal((await call(`${erp.url}/api/items`, ERP)).status, 200)
  t.ok(performance.now() - start >= 55, 'latency applied')
  erp.clearFaults()
  // close() must not wait for the 5 s hang still pending on the server side
})

t.test('webhooks: control API changes are posted with the bearer key; flushWebhooks waits', async (t) => {
  const receiver = await startReceiver(30)
  const shop = await startShop()
  t.teardown(async () => {
    await shop.close()
    await receiver.close()
  })

  shop.put('customer', { id: 'before', email: 'x@x.io' })
  t.equal(shop.emitted, 0, 'nothing emitted before emitTo')

  shop.emitTo({ url: receiver.url, key: 'hook-key', headers: { 'x-source': 'shop' } })
  const c = shop.put('customer', { email: 'a@x.io' })
  shop.put('customer', { ...c, email: 'b@x.io' })
  shop.patch('customer', c.id, { note: 'hi' })
  shop.remove('customer', c.id)
  shop.remove('customer', 'never-existed')
  await shop.flushWebhooks()

  t.equal(shop.emitted, 4)
  t.equal(shop.emitErrors, 0)
  t.equal(receiver.received.length, 4, 'all answered by the time flush resolves')
  t.same(
    receiver.received.map((r) => r.body).sort((x, y) => x.scope.localeCompare(y.scope)),
    [
      { scope: 'customer/create', id: c.id },
      { scope: 'customer/delete', id: c.id },
      { scope: 'customer/update', id: c.id },
      { scope: 'customer/update', id: c.id },
    ],
  )
  for (const r of receiver.received) {
    t.equal(r.headers.authorization, 'Bearer hook-key')
    t.equal(r.headers['x-source'], 'shop')
  }

  // shop HTTP writes do not emit; emitTo(null) stops emission
  await call(`${shop.url}/customers`, SHOP, 'POST', { email: 'api@x.io' })
  shop.emitTo(null)
  shop.put('product', { sku: 'x' })
  await shop.flushWebhooks()
  t.equal(shop.emitted, 4)
})

t.test('webhooks: the ERP also emits for its own HTTP writes, with a scope prefix', async (t) => {
  const receiver = await startReceiver()
  const erp = await startErp()
  t.teardown(async () => {
    await erp.close()
    await receiver.close()
  })
  erp.emitTo({ url: receiver.url, key: 'k', scopePrefix: 'erp:' })
  await call(`${erp.url}/api/items`, ERP, 'POST', { itemNo: 'S1' })
  await call(`${erp.url}/api/items/I-0001`, ERP, 'PUT', { qty: 4 })
  await call(`${erp.url}/api/items/I-0001`, ERP, 'DELETE')
  await call(`${erp.url}/api/items/I-0001`, ERP, 'DELETE') // 404: nothing to emit
  await erp.flushWebhooks()
  t.same(
    receiver.received.map((r) => r.body.scope).sort(),
    ['erp:product/create', 'erp:product/delete', 'erp:product/update'],
  )
  t.ok(receiver.received.every((r) => r.body.id === 'I-0001'))
})

t.test('webhooks: batchWebhooks posts arrays', async (t) => {
  const receiver = await startReceiver()
  const shop = await startShop({ batchWebhooks: true })
  t.teardown(async () => {
    await shop.close()
    await receiver.close()
  })
  shop.emitTo({ url: receiver.url })
  for (let i = 0; i < 5; i++) shop.put('order', { number: i })
  await shop.flushWebhooks()
  t.equal(receiver.received.length, 1)
  t.equal(receiver.received[0]!.body.length, 5)
  t.same(receiver.received[0]!.body[0], { scope: 'order/create', id: shop.all('order')[0]!.id })
  t.equal(receiver.received[0]!.headers.authorization, undefined, 'no key, no authorization header')
})

t.test('webhooks to an unreachable URL are counted as errors and do not crash the system', async (t) => {
  const dead = await startReceiver()
  await dead.close() // its port is now closed
  const shop = await startShop()
  t.teardown(() => shop.close())
  shop.emitTo({ url: dead.url, key: 'k' })
  const c = shop.put('customer', { email: 'x@x.io' })
  shop.patch('customer', c.id, { note: 'n' })
  await shop.flushWebhooks()
  t.equal(shop.emitted, 2)
  t.equal(shop.emitErrors, 2)
  t.equal((await call(`${shop.url}/customers/${c.id}`, SHOP)).body.note, 'n', 'still serving')
})

t.test('webhook errors from a non-2xx receiver are counted', async (t) => {
  const erp = await startErp()
  const crm = await startCrm()
  t.teardown(async () => {
    await erp.close()
    await crm.close()
  })
  // the CRM answers 401 to an unauthenticated webhook: a real HTTP error, not a network one
  erp.emitTo({ url: `${crm.url}/hooks` })
  erp.put('customer', { name: 'x' })
  await erp.flushWebhooks()
  t.equal(erp.emitErrors, 1)
  t.equal(crm.calls({ pathPrefix: '/hooks' })[0]?.status, 401)
})

// `npm run sandbox`, as a process: what it prints is what examples/hub.config.yaml needs.
function runSandboxMain(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['sandbox/main.ts', ...args], {
    cwd: fileURLToPath(new URL('../', import.meta.url)),
    env: { PATH: process.env.PATH, SHOP_PORT: '0', CRM_PORT: '0', ERP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { child, exited, output: () => out }
}

t.test('npm run sandbox prints the environment of the example config and seeds the shop through webhooks', async (t) => {
  const hub = await startReceiver()
  t.teardown(() => hub.close())
  const run = runSandboxMain(['--seed', '3'], { HUB_URL: new URL(hub.url).origin })
  t.teardown(() => run.child.kill('SIGKILL'))
  await waitFor(() => run.output().includes('Seeded') || run.child.exitCode !== null, 20_000, 'the sandbox to start')

  const env = Object.fromEntries([...run.output().matchAll(/^ {2}export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]))
  // the values of the config, not its comments
  const config = JSON.stringify(YAML.parse(await readFile(new URL('../examples/hub.config.yaml', import.meta.url), 'utf8')))
  const needed = new Set([...config.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))
  t.ok(needed.size > 0)
  t.same(Object.keys(env).sort(), [...needed].sort(), 'exactly the variables the example config references')
  t.equal((await call(`${env.SHOP_URL}/customers`, { authorization: `Bearer ${env.SHOP_TOKEN}` })).body.items.length, 3)
  t.match(run.output(), new RegExp(`^ {2}PORT=${new URL(hub.url).port} npm start$`, 'm'), 'the hub it suggests listens where the webhooks go')

  await waitFor(() => hub.received.length === 3, 10_000, 'the seeded webhooks')
  // three separate posts: they may arrive in any order
  t.same(hub.received.map((r) => r.body).sort((a, b) => a.id.localeCompare(b.id)), ['1001', '1002', '1003'].map((id) => ({ scope: 'customer/create', id })))
  t.equal(hub.received[0]!.url, '/v1/hooks/shop')
  t.equal(hub.received[0]!.headers.authorization, `Bearer ${env.SHOP_WEBHOOK_KEY}`)

  // a change through the shop's API posts its webhook too (what a curl from the README does)
  await call(`${env.SHOP_URL}/customers/1002`, { authorization: `Bearer ${env.SHOP_TOKEN}` }, 'PUT', { first_name: 'Changed' })
  await waitFor(() => hub.received.length === 4, 10_000, 'the webhook of the API change')
  t.same(hub.received[3]!.body, { scope: 'customer/update', id: '1002' })

  run.child.kill('SIGINT')
  t.equal(await run.exited, 0, 'Ctrl-C stops it')
})

t.test('npm run sandbox -- --pull runs the two pull sources, and what it prints sets up and exercises pull sync', async (t) => {
  const h = await buildTestHub(t)
  const run = runSandboxMain(['--pull'], { LEDGER_PORT: '0', STOCKROOM_PORT: '0' })
  t.teardown(() => run.child.kill('SIGKILL'))
  await waitFor(() => run.output().includes('curl -X DELETE') || run.child.exitCode !== null, 20_000, 'the sandbox to start')
  const out = run.output()
  // The printed system documents, as the printed curl would PUT them.
  const docs = [...out.matchAll(/-d '(\{"id":[^']*)'$/gm)].map((m) => JSON.parse(m[1]!))
  t.same(docs.map((d) => d.id), ['ledger', 'stockroom'])
  for (const doc of docs) {
    const put = await h.app.inject({ method: 'PUT', url: `/v1/systems/${doc.id}`, headers: h.auth, payload: doc })
    t.equal(put.statusCode, 201, `${doc.id} is accepted as printed`)
  }
  t.match(await pollNow(h, 'ledger', 'customer'), { seen: 5, enqueued: 5, error: undefined })
  t.match(await pollNow(h, 'stockroom', 'product'), { seen: 5, enqueued: 5, error: undefined })
  // The printed changes: only they arrive at the next polls.
  const [, ledgerUrl] = /ledger {5}(http:\S+)/.exec(out)!
  const [, stockroomUrl] = /stockroom {2}(http:\S+)/.exec(out)!
  t.equal((await call(`${ledgerUrl}/customers/L2`, {}, 'PUT', { email: 'ledger2@example.com', name: 'Renamed' })).status, 200)
  t.equal((await fetch(`${stockroomUrl}/products/P3`, { method: 'DELETE' })).status, 204)
  t.match(await pollNow(h, 'ledger', 'customer'), { seen: 1, enqueued: 1 })
  t.match(await pollNow(h, 'stockroom', 'product'), { seen: 4, enqueued: 0, deleted: 1 })
  run.child.kill('SIGINT')
  t.equal(await run.exited, 0, 'Ctrl-C stops it')
})

t.test('npm run sandbox rejects a bad --seed', async (t) => {
  const run = runSandboxMain(['--seed', 'many'], {})
  t.equal(await run.exited, 2)
  t.match(run.output(), /--seed must be a number of customers, got many/)
})

t.test('npm run sandbox -- --help prints the usage and exits 0; an unknown option is one line and exits 2', async (t) => {
  const help = runSandboxMain(['--help'], {})
  t.equal(await help.exited, 0)
  t.match(help.output(), /^Usage: npm run sandbox -- \[options\]\n[^]*--seed <n>/)
  const unknown = runSandboxMain(['--bogus'], {})
  t.equal(await unknown.exited, 2)
  t.equal(unknown.output(), "error: unknown option '--bogus'\n")
})
