import { connect } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { startWorkers } from '../src/workers.ts'
import { startPipeline, waitFor } from './helpers/pipeline.ts'

type Pipeline = Awaited<ReturnType<typeof startPipeline>>

const csvPost = (p: Pipeline, query: string, csv: string | Readable) => p.app.inject({
  method: 'POST', url: `/v1/sync?${query}`, headers: { ...p.auth, 'content-type': 'text/csv' }, payload: csv
})
const jsonPost = (p: Pipeline, body: object) => p.app.inject({ method: 'POST', url: '/v1/sync', headers: p.auth, payload: body })
const queuedJobs = async (p: Pipeline) => (await p.hub.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name IN ('inbound', 'outbound')")).rows[0].n
const status = async (p: Pipeline, batchId: string) => (await p.app.inject({ url: `/v1/sync/${batchId}`, headers: p.auth })).json()
const finished = (p: Pipeline, batchId: string, ms = 120_000) => waitFor(async () => {
  const s = await status(p, batchId)
  return s.finished ? s : undefined
}, ms, `batch ${batchId} to finish`)

// The same at 10,000 ids and more: bench/bulk-sync.ts (npm run bench -- bulk-sync).
t.test('a CSV of ids sent in pieces finishes as a batch and every record reaches its destinations', async t => {
  const p = await startPipeline(t)
  // Sandbox systems are fast: let the hub use them fully.
  for (const id of ['shop', 'crm', 'erp']) await p.putSystem(id, doc => { doc.throttle = { maxConcurrent: 16 } })
  p.shop.emitTo(null)
  const ids = []
  for (let i = 0; i < 200; i++) ids.push(p.shop.put('customer', { email: `c${i}@example.com`, first_name: `C${i}` }).id)
  // 64-byte pieces, so ids straddle the pieces the parser is handed, as on any real upload.
  const pieces = ('id\n' + ids.join('\n') + '\n').match(/[^]{1,64}/g)!
  const res = await csvPost(p, 'system=shop&scope=customer/create', Readable.from(pieces, { objectMode: false }))
  t.equal(res.statusCode, 202)
  const receipt = res.json()
  t.match(receipt, { queued: 200, coalesced: 0, rejected: [], rejectedCount: 0 })
  const done = await finished(p, receipt.batchId)
  t.match(done, { counts: { queued: 0, active: 0, completed: 200, failed: 0 }, deliveries: { completed: 400, failed: 0 }, failures: [] })
  t.equal(p.crm.all('customer').length, 200, 'every customer reached the CRM')
  t.equal(p.erp.all('customer').length, 200, 'and the ERP')
})

t.test('ids the source does not have are skipped, and the batch status names them with why', async t => {
  const p = await startPipeline(t)
  p.shop.emitTo(null)
  const real = p.shop.put('customer', { email: 'real@example.com', first_name: 'Real' }).id
  const res = await jsonPost(p, { system: 'shop', scope: 'customer/update', ids: ['9999', real, '8888'] })
  t.equal(res.statusCode, 202)
  const done = await finished(p, res.json().batchId)
  t.match(done.counts, { completed: 1, skipped: 2 })
  t.same(done.skips.map((k: { id: string, reason: string }) => [k.id, k.reason]).sort(), [['8888', 'not found in shop (404)'], ['9999', 'not found in shop (404)']])
  t.ok(done.skips.every((k: { jobId: string }) => /^[0-9a-f-]{36}$/.test(k.jobId)), 'each with its job')
})

t.test('a debug job sent behind 20,000 queued jobs runs before them, with a redacted trace', async t => {
  const p = await startPipeline(t, { workers: false })
  const bulk = await jsonPost(p, { system: 'shop', scope: 'customer/update', ids: Array.from({ length: 20_000 }, (_, i) => `missing-${i}`) })
  t.equal(bulk.json().queued, 20_000)
  // The debug sync alone brings this customer in (no webhook racing it).
  p.shop.emitTo(null)
  const customer = p.shop.put('customer', { email: 'debug@example.com', first_name: 'Dee', last_name: 'Bug', accepts_marketing: true })
  const debug = await jsonPost(p, { system: 'shop', scope: 'customer/create', ids: [customer.id], debug: true })
  t.equal(debug.statusCode, 202)
  const workers = await startWorkers(p.hub)
  t.teardown(() => workers.stop())
  const done = await finished(p, debug.json().batchId, 60_000)
  const [jobId] = done.debugJobs
  const { rows: [{ n }] } = await p.hub.pool.query(
    `SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'batchId' = $1
     AND started_on < (SELECT started_on FROM pgboss.job WHERE id = $2)`, [bulk.json().batchId, jobId])
  t.ok(n < 200, `only ${n} of the 20,000 earlier jobs started before the debug job`)
  await workers.stop()

  const job = (await p.app.inject({ url: `/v1/jobs/${jobId}`, headers: p.auth })).json()
  t.equal(job.state, 'completed')
  const steps = job.trace.map((s: { step: string }) => s.step)
  t.match(steps, ['fetch', 'map', 'store'])
  t.match(job.trace[0], { request: { method: 'GET', headers: { authorization: '[redacted]' } }, status: 200, body: { email: 'debug@example.com' } })
  t.match(job.trace[1], { input: { email: 'debug@example.com' }, output: { email_address: 'debug@example.com' } })
  t.equal(job.deliveries.length, 2, 'the deliveries it fanned out are linked')
  for (const delivery of job.deliveries) {
    t.equal(delivery.state, 'completed')
    t.ok(delivery.trace.some((s: { step: string }) => s.step === 'create'), `${delivery.data.system}: the delivery request is traced`)
  }
  const crmTrace = job.deliveries.find((d: { data: { system: string } }) => d.data.system === 'crm').trace
  t.match(crmTrace.find((s: { step: string }) => s.step === 'create'), { request: { headers: { 'x-api-key': '[redacted]' }, body: { email: 'debug@example.com' } }, status: 201 })
  const text = JSON.stringify(job)
  for (const secret of ['shop-token', 'crm-key', Buffer.from('erp:erp-pass').toString('base64')]) t.notOk(text.includes(secret), 'no secret in the trace')
})

t.test('a debug batch queues each id exactly as sent, quotes, backslashes and $1 alike, with its batch', async t => {
  // Its row and jobs travel as one query with the values written in (src/db/one-trip.ts).
  const p = await startPipeline(t, { workers: false })
  const ids = ["o'brien", 'back\\slash', '"quoted"', '$1', 'line\u00e9']
  const res = await jsonPost(p, { system: 'shop', scope: 'customer/update', ids, debug: true })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { queued: 5, coalesced: 0, rejectedCount: 0 })
  const { rows } = await p.hub.pool.query("SELECT data->>'id' AS id, data->>'debug' AS debug FROM pgboss.job WHERE data->>'batchId' = $1", [res.json().batchId])
  t.same(rows.map(r => r.id).sort(), [...ids].sort())
  t.ok(rows.every(r => r.debug === 'true'))
  const batch = await status(p, res.json().batchId)
  t.match(batch, { counts: { queued: 5 } })
  t.equal(batch.debugJobs.length, 5, 'the batch is recorded as a debug one')
})

t.test("a manual sync's delete line deletes only what its source no longer has", async t => {
  const p = await startPipeline(t)
  const kept = p.shop.put('customer', { email: 'kept@example.com', first_name: 'Kept' })
  const gone = p.shop.put('customer', { email: 'gone@example.com', first_name: 'Gone' })
  await p.synced()
  t.equal(p.erp.all('customer').length, 2)
  // Removed at the shop without a webhook: the hub missed the delete.
  p.shop.emitTo(null)
  p.shop.remove('customer', gone.id)
  const res = await csvPost(p, 'system=shop&type=customer', `id,scope\n${kept.id},customer/delete\n${gone.id},customer/delete\n`)
  t.equal(res.statusCode, 202)
  const done = await finished(p, res.json().batchId)
  t.match(done.counts, { completed: 1, skipped: 1 })
  t.match(done.skips, [{ id: kept.id, reason: `shop still has customer ${kept.id}: not deleted (a delete needs the record gone from its source)` }])
  t.same(p.erp.all('customer').map(c => c.email), ['kept@example.com'], 'deleted in the ERP only the customer the shop lost')
  const record = (await p.app.inject({ url: `/v1/records/customer/by-link/shop/${kept.id}`, headers: p.auth })).json()
  t.notOk(record.deletedAt, 'the kept customer stays in the hub')
})

t.test('outbound direction pushes hub records to the named target only', async t => {
  const p = await startPipeline(t)
  const a = p.shop.put('customer', { email: 'a@example.com', first_name: 'A' })
  const b = p.shop.put('customer', { email: 'b@example.com', first_name: 'B' })
  await p.shop.flushWebhooks()
  await p.settled()
  const record = (await p.app.inject({ url: `/v1/records/customer/by-link/shop/${a.id}`, headers: p.auth })).json()
  p.crm.resetCalls()
  p.erp.resetCalls()

  const byHubId = await jsonPost(p, { direction: 'outbound', target: 'erp', type: 'customer', action: 'update', ids: [record.id, '00000000-0000-0000-0000-000000000000', 'not-a-uuid'] })
  t.equal(byHubId.statusCode, 202)
  t.match(byHubId.json(), { queued: 1, rejectedCount: 2, rejected: [{ line: 2, reason: /no hub customer/ }, { line: 3, id: 'not-a-uuid' }] })
  const byShopId = await jsonPost(p, { direction: 'outbound', target: 'erp', system: 'shop', scope: 'customer/update', ids: [b.id] })
  t.match(byShopId.json(), { queued: 1, rejectedCount: 0 })
  await finished(p, byHubId.json().batchId)
  await finished(p, byShopId.json().batchId)
  t.equal(p.erp.calls({ method: 'PUT' }).length, 2, 'both records were pushed to the ERP')
  t.equal(p.crm.calls().length, 0, 'the CRM heard nothing')

  // A delete pushed for a record the hub still has is skipped: the ERP keeps it, and its link.
  const del = await jsonPost(p, { direction: 'outbound', target: 'erp', scope: 'customer/delete', ids: [record.id] })
  t.equal(del.statusCode, 202, del.body)
  const deleted = await finished(p, del.json().batchId)
  t.match(deleted.skips, [{ id: record.id, reason: "the hub's customer is not deleted: not deleted in erp" }])
  t.equal(p.erp.calls({ method: 'DELETE' }).length, 0)
  t.equal(p.erp.all('customer').length, 2)
  const links = (await p.app.inject({ url: `/v1/records/customer/${record.id}`, headers: p.auth })).json().links
  t.ok(links.some((l: { systemId: string }) => l.systemId === 'erp'), 'the ERP link stays')
})

t.test('bad requests are refused clearly, and bad lines are rejected while the rest proceed', async t => {
  const p = await startPipeline(t, { workers: false })

  const noHeader = await csvPost(p, 'system=shop&scope=customer/update', 'sku\n1\n')
  t.equal(noHeader.statusCode, 400)
  t.match(noHeader.json().error.message, /an 'id' column.*found 'sku'/)
  // As `ids: []` is: a header with no line after it is the wrong file, not a batch of nothing.
  const noIds = await csvPost(p, 'system=shop&scope=customer/update', 'id\r\n')
  t.equal(noIds.statusCode, 400, noIds.body)
  t.equal(noIds.json().error.message, 'the CSV has a header and no ids after it')
  t.equal((await p.hub.pool.query('SELECT count(*)::int AS n FROM hub.sync_batches')).rows[0].n, 0, 'no batch stored')
  const cases: Array<[object, number, RegExp]> = [
    [{ system: 'nope', scope: 'customer/update', ids: ['1'] }, 400, /^system: no system 'nope'/],
    [{ system: 'shop', type: 'invoice', ids: ['1'] }, 400, /^type: /],
    [{ system: 'shop', scope: 'customer/explode', ids: ['1'] }, 400, /^scope: /],
    [{ system: 'crm', scope: 'customer/update', ids: ['1'] }, 400, /crm has no inbound flow for customer\/update/],
    [{ direction: 'outbound', scope: 'customer/update', ids: ['1'] }, 400, /^target: required/],
    [{ direction: 'outbound', target: 'shop', scope: 'customer/update', ids: ['1'] }, 400, /shop has no enabled outbound flow/],
    [{ system: 'shop', scope: 'customer/update', ids: [] }, 400, /^ids: /],
    [{ system: 'shop', scope: 'customer/update', ids: ['1'], debg: true }, 400, /^debg: unknown key/],
    // Without ids the rest is still checked (the CLI tries its options so before an upload).
    [{ system: 'nope', scope: 'customer/update', ids: [] }, 400, /^system: no system 'nope'/],
    [{ system: 'shop', scope: 'customer/poll', ids: [] }, 422, /shop does not poll customer/],
    [{ system: 'shop', scope: 'customer/poll', ids: ['1'] }, 422, /shop does not poll customer: it needs an enabled inbound customer flow with poll/]
  ]
  for (const [body, code, message] of cases) {
    const res = await jsonPost(p, body)
    t.equal(res.statusCode, code, JSON.stringify(body))
    t.match(res.json().error.message, message)
    // Whichever check refused it, a field's error has one shape: the field in details.
    if (code === 400) t.match(res.json().error, { code: 'validation_failed', details: [{ path: res.json().error.message.split(':')[0] }] }, 'the field in details')
  }
  // A CSV upload's options are its query: a misspelt one is refused as a JSON key is.
  const misspelt = await csvPost(p, 'system=shop&scope=customer/update&debg=1', 'id\n1\n')
  t.equal(misspelt.statusCode, 400)
  t.equal(misspelt.json().error.message, 'querystring.debg: unknown key')
  t.equal(await queuedJobs(p), 0, 'nothing was enqueued by a refused request')

  const long = 'x'.repeat(300)
  const csv = ['id,scope', '1,customer/update', ',customer/update', '1,customer/update', `${long},customer/update`, '2,customer/delete', '3,order/update', '4,', '3,customer/create'].join('\n')
  const res = await csvPost(p, 'system=shop&scope=customer/update', csv)
  t.equal(res.statusCode, 202)
  t.match(res.json(), {
    queued: 4,
    rejectedCount: 4,
    rejected: [
      { line: 3, id: '', reason: 'blank id' },
      { line: 4, id: '1', reason: 'duplicate of line 2' },
      { line: 5, reason: 'id longer than 255 characters' },
      { line: 7, id: '3', reason: /scope 'order\/update' is not customer/ }
    ]
  })
  t.equal(await queuedJobs(p), 4, 'the good lines were queued')
  const { rows } = await p.hub.pool.query("SELECT data->>'id' AS id, data->>'action' AS action FROM pgboss.job WHERE name = 'inbound' ORDER BY 1")
  t.same(rows, [{ id: '1', action: 'update' }, { id: '2', action: 'delete' }, { id: '3', action: 'create' }, { id: '4', action: 'update' }],
    'a line without a scope takes the default; an id rejected for its scope may come again')
  // A quoted cell holding a Windows line break (which csv-parse counts as two lines) leaves the
  // lines after it their numbers.
  const windows = await csvPost(p, 'system=shop&scope=customer/update', ['id', '7', '"a', 'b"', '', '7'].join('\r\n'))
  t.match(windows.json(), { queued: 2, rejected: [{ line: 6, id: '7', reason: 'duplicate of line 2' }] })

  // Ids pasted on one line under an `id` header: the line is refused, not read as its first id.
  const oneLine = await csvPost(p, 'system=shop&scope=customer/update', 'id\n8,9,9,,10\n11,\n')
  t.match(oneLine.json(), { queued: 1, rejectedCount: 1, rejected: [{ line: 2, id: '8', reason: '5 cells, and the header has 1: one id a line' }] })

  const unknown = await p.app.inject({ url: '/v1/sync/00000000-0000-0000-0000-000000000000', headers: p.auth })
  t.equal(unknown.statusCode, 404)
  const s = await status(p, res.json().batchId)
  t.match(s, { direction: 'inbound', system: 'shop', scope: 'customer/update', state: 'enqueued', received: { queued: 4, rejected: 4 }, counts: { queued: 4 }, finished: false })
  const readOnly = await p.app.inject({ method: 'POST', url: '/v1/admin-keys', headers: p.auth, payload: { name: 'ro', scopes: ['read'] } })
  const denied = await p.app.inject({ method: 'POST', url: '/v1/sync', headers: { authorization: `Bearer ${readOnly.json().key}` }, payload: { system: 'shop', scope: 'customer/update', ids: ['1'] } })
  t.equal(denied.statusCode, 403, 'a sync needs the write scope')
})

t.test('an upload cut off midway marks its batch aborted and queues nothing', async t => {
  const p = await startPipeline(t, { workers: false })
  const { port } = new URL(p.url)
  const socket = connect(Number(port), '127.0.0.1')
  await new Promise(resolve => socket.once('connect', resolve))
  const lines = 'id\n' + Array.from({ length: 20_000 }, (_, i) => `id-${i}`).join('\n') + '\n'
  socket.write([
    'POST /v1/sync?system=shop&scope=customer/update HTTP/1.1', 'Host: 127.0.0.1', `Authorization: ${p.auth.authorization}`,
    'Content-Type: text/csv', `Content-Length: ${lines.length * 10}`, '', ''
  ].join('\r\n'))
  socket.write(lines)
  const batch = await waitFor(async () => {
    const { rows } = await p.hub.pool.query("SELECT id, state FROM hub.sync_batches WHERE state = 'enqueuing'")
    return rows[0]
  }, 20_000, 'the upload to be under way')
  socket.destroy()
  const ended = await waitFor(async () => (await status(p, batch.id)).state === 'aborted' && await status(p, batch.id), 20_000, 'the batch to be marked aborted')
  t.equal(ended.received.queued, 0, 'the batch says nothing was queued')
  t.equal(await queuedJobs(p), 0, 'and no job exists')
})

t.test('a CSV that breaks part way, or runs past the size limits, is a 4xx that queued nothing', async t => {
  const p = await startPipeline(t, { workers: false })
  const post = (payload: string) => csvPost(p, 'system=shop&scope=customer/update', payload)
  const good = Array.from({ length: 2_500 }, (_, i) => `id-${i}`).join('\n')
  const broken = await post(`id\n${good}\n"unterminated\nid-x\n`)
  t.equal(broken.statusCode, 400, 'a malformed line is a 400')
  t.match(broken.json().error.message, /nothing was queued/)
  const longLine = await post('id\n' + 'x'.repeat(200_000) + '\n')
  t.equal(longLine.statusCode, 400, 'a line far beyond an id is a 400, not read whole')
  const nul = await post('id\nok-1\nbad\u0000id\n')
  t.equal(nul.statusCode, 202, 'an unstorable id is rejected on its line only')
  t.match(nul.json(), { queued: 1, rejected: [{ line: 3, reason: 'id contains a NUL character' }] })
  const huge = await post('id\n'.repeat(22 * 1024 * 1024))
  t.equal(huge.statusCode, 413, 'a body over 64 MB is a 413')
  t.equal(await queuedJobs(p), 1, 'only the accepted line of the good request was queued')
})
