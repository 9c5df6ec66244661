// POST /v1/hooks/:system: authentication (bearer keys, Standard Webhooks signatures), body
// validation, dedup of redeliveries and coalescing of bursts, checked against the rows pg-boss
// holds. Workers are off so every accepted job stays queued where it can be counted; the
// webhook backlog is pumped into pg-boss's queue before each look (src/ingest/pump.ts).
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import type { Test } from 'tap'
import type { Hub } from '../src/hub.ts'
import { pumpBacklog } from '../src/ingest/pump.ts'
import { exampleSystem, inboundJobs, startPipeline } from './helpers/pipeline.ts'

type Pipeline = Awaited<ReturnType<typeof startPipeline>>
type Response = Awaited<ReturnType<Pipeline['app']['inject']>>

const SHOP_SCOPES = ['customer/create', 'customer/update', 'customer/delete', 'product/create', 'product/update', 'product/delete', 'order/create', 'order/update', 'order/delete']

const inboundCount = async (hub: Hub) => (await inboundJobs(hub)).length

const start = (t: Test) => startPipeline(t, { workers: false })

/** POST a JSON value (serialised here, so the exact bytes are known) to /v1/hooks/:system. */
function post (p: Pipeline, body: unknown, headers: Record<string, string> = {}, system = 'shop'): Promise<Response> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body)
  return p.app.inject({ method: 'POST', url: `/v1/hooks/${system}`, headers: { 'content-type': 'application/json', ...headers }, payload })
}

const bearer = (p: Pipeline) => ({ authorization: `Bearer ${p.configEnv.SHOP_WEBHOOK_KEY}` })

/** Standard Webhooks headers for `rawBody`, signed with `secret` at `at`. */
function signed (secret: string, rawBody: string, at = new Date(), msgId = 'msg_' + randomBytes(8).toString('hex')) {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(msgId, at, rawBody)
  }
}

/** Send a request that must be rejected: its status, the error envelope, and no job enqueued. */
async function rejected (t: Test, p: Pipeline, send: () => Promise<Response>, status: number, code: string, message?: RegExp | string): Promise<Response> {
  const before = await inboundCount(p.hub)
  const res = await send()
  t.equal(res.statusCode, status, `answers ${status}`)
  const body = res.json()
  t.match(body, { error: { code, message: String } }, `error envelope with code ${code}`)
  t.same(Object.keys(body), ['error'], 'nothing but the envelope')
  if (message) t.match(body.error?.message, message, 'the message says what is wrong')
  t.equal(await inboundCount(p.hub), before, 'nothing was enqueued')
  return res
}

/** A 202 receipt with exactly these counts. */
function receipt (t: Test, res: Response, expected: { accepted: number, coalesced: number, duplicates: number }, message = 'receipt') {
  t.equal(res.statusCode, 202, `${message}: answers 202`)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8', `${message}: as JSON`)
  t.same(res.json(), expected, `${message}: ${JSON.stringify(expected)}`)
}


const PLAIN_KEY = 'plain-webhook-key-0123456789'

/**
 * A system without an `extract` expression, put over the API: the hub's own body format
 * (single items, arrays, debug) reaches readEvents unchanged. Its only inbound flow is
 * customer update/delete, so customer/create and product/* are not configured for it.
 */
async function putPlainSystem (t: Test, p: Pipeline, keys = [PLAIN_KEY], status = 201) {
  const res = await p.app.inject({
    method: 'PUT',
    url: '/v1/systems/plain',
    headers: p.auth,
    payload: {
      baseUrl: p.shop.url,
      allowPrivateNetwork: true,
      auth: { kind: 'bearer', token: 'shop-token' },
      webhooks: { keys },
      types: { customer: { get: { path: '/customers/{id}' } } },
      flows: [{ type: 'customer', direction: 'inbound', actions: ['update', 'delete'], mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }]
    }
  })
  t.equal(res.statusCode, status, status === 201 ? 'the plain system is created' : 'the plain system is replaced')
}
const plainAuth = { authorization: `Bearer ${PLAIN_KEY}` }

t.test('a single {scope, id} with the bearer key is enqueued as one inbound job', async t => {
  const p = await start(t)
  const res = await post(p, { scope: 'customer/update', id: '1' }, bearer(p))
  t.equal(res.statusCode, 202)
  receipt(t, res, { accepted: 1, coalesced: 0, duplicates: 0 })
  const jobs = await inboundJobs(p.hub)
  t.equal(jobs.length, 1, 'one inbound job')
  t.same(jobs[0].data, { system: 'shop', type: 'customer', action: 'update', id: '1' }, 'the job says what to fetch')
  t.equal(jobs[0].state, 'created', 'queued')
  t.equal(jobs[0].priority, 10, 'live priority')
  t.equal(jobs[0].singleton_key, 'shop:customer:1:fetch')

  const numeric = await post(p, { scope: 'order/create', id: 77 }, bearer(p))
  t.equal(numeric.statusCode, 202)
  const [, order] = await inboundJobs(p.hub)
  t.same(order.data, { system: 'shop', type: 'order', action: 'create', id: '77' }, 'a numeric id is taken as text')
})

t.test("the shop's own payload is reduced to scope and id by its extract expression", async t => {
  const p = await start(t)
  const res = await post(p, { topic: 'customers/update', id: 42 }, bearer(p))
  t.equal(res.statusCode, 202)
  receipt(t, res, { accepted: 1, coalesced: 0, duplicates: 0 })
  const jobs = await inboundJobs(p.hub)
  t.equal(jobs.length, 1)
  t.same(jobs[0].data, { system: 'shop', type: 'customer', action: 'update', id: '42' })
  t.equal(jobs[0].singleton_key, 'shop:customer:42:fetch')

  const unknownTopic = await post(p, { topic: 'invoices/create', id: 1 }, bearer(p))
  t.equal(unknownTopic.statusCode, 400, 'a topic the extract cannot map is rejected')
  t.equal(await inboundCount(p.hub), 1, 'and adds nothing')
  // A wrong value says where it came from.
  await rejected(t, p, () => post(p, { id: '1' }, bearer(p)), 400, 'validation_failed', /^scope: '\/' is not a scope shop may send \(as shop's extract expression made it from the payload\)/)
  // An id that is an object or a list is no record's id, whatever text $string makes of it.
  await rejected(t, p, () => post(p, { topic: 'customers/update', id: { a: 1 } }, bearer(p)), 400, 'validation_failed', /^id: .*\(as shop's extract expression made it from the payload\)/)
  await rejected(t, p, () => post(p, [{ topic: 'products/create', id: 1001 }], bearer(p)), 400, 'validation_failed', /^\[0\]\.scope: required \(an array is read as the hub's own \{scope, id\} items/)
})

t.test('arrays of items', async t => {
  const items = [
    { scope: 'customer/update', id: '1' },
    { scope: 'product/create', id: '2' },
    { scope: 'order/delete', id: 3 }
  ]

  t.test('the shop takes an array and counts every item', async t => {
    const p = await start(t)
    const res = await post(p, items, bearer(p))
    t.equal(res.statusCode, 202, 'accepted')
    receipt(t, res, { accepted: 3, coalesced: 0, duplicates: 0 }, 'three accepted')
    t.same((await inboundJobs(p.hub)).map(j => j.data), [
      { system: 'shop', type: 'customer', action: 'update', id: '1' },
      { system: 'shop', type: 'product', action: 'create', id: '2' },
      { system: 'shop', type: 'order', action: 'delete', id: '3' }
    ], 'one job per item')
    const single = await post(p, [{ scope: 'customer/update', id: '9' }], bearer(p))
    receipt(t, single, { accepted: 1, coalesced: 0, duplicates: 0 }, 'an array of one')
  })

  t.test('a system without extract takes an array and counts every item', async t => {
    const p = await start(t)
    await putPlainSystem(t, p)
    const res = await post(p, [{ scope: 'customer/update', id: '1' }, { scope: 'customer/delete', id: '2' }, { scope: 'customer/update', id: 3 }], plainAuth, 'plain')
    t.equal(res.statusCode, 202)
    receipt(t, res, { accepted: 3, coalesced: 0, duplicates: 0 })
    t.same((await inboundJobs(p.hub)).map(j => j.data).sort((a, b) => String(a.id).localeCompare(String(b.id))), [
      { system: 'plain', type: 'customer', action: 'update', id: '1' },
      { system: 'plain', type: 'customer', action: 'delete', id: '2' },
      { system: 'plain', type: 'customer', action: 'update', id: '3' }
    ])
  })

  t.test('1,000 items are fine, 1,001 are not; an empty array is rejected', async t => {
    const p = await start(t)
    await putPlainSystem(t, p)
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ scope: 'customer/update', id: String(i + 1) }))

    await rejected(t, p, () => post(p, many(1001), plainAuth, 'plain'), 400, 'validation_failed', /at most 1000 items per request/)
    await rejected(t, p, () => post(p, [], plainAuth, 'plain'), 400, 'validation_failed')
    await rejected(t, p, () => post(p, many(1001), bearer(p)), 400, 'validation_failed', /at most 1000 items per request/)
    await rejected(t, p, () => post(p, [], bearer(p)), 400, 'validation_failed')

    const max = await post(p, many(1000), plainAuth, 'plain')
    t.equal(max.statusCode, 202)
    receipt(t, max, { accepted: 1000, coalesced: 0, duplicates: 0 })
    t.equal(await inboundCount(p.hub), 1000)
  })
  t.end()
})

t.test('unknown systems and missing or wrong webhook keys', async t => {
  const p = await start(t)
  const body = { scope: 'customer/update', id: '1' }
  // A key of the shop's, sent under a name no system has, is no more than a wrong key.
  await rejected(t, p, () => post(p, body, bearer(p), 'no-such-system'), 401, 'unauthorized', 'invalid webhook key')
  await rejected(t, p, () => post(p, body), 401, 'unauthorized', /missing webhook credentials/)
  await rejected(t, p, () => post(p, body, { authorization: 'Bearer not-the-shop-webhook-key' }), 401, 'unauthorized', 'invalid webhook key')
  await rejected(t, p, () => post(p, body, { authorization: `Basic ${p.configEnv.SHOP_WEBHOOK_KEY}` }), 401, 'unauthorized')
  // The admin key is not a webhook key.
  await rejected(t, p, () => post(p, body, p.auth), 401, 'unauthorized', 'invalid webhook key')
  // Another system's key does not open the shop.
  await putPlainSystem(t, p)
  await rejected(t, p, () => post(p, body, plainAuth), 401, 'unauthorized', 'invalid webhook key')
  t.notMatch(JSON.stringify((await post(p, body, { authorization: 'Bearer wrong' })).json()), p.configEnv.SHOP_WEBHOOK_KEY, 'the error never shows the real key')
})

t.test('an unknown system answers as a known one does to wrong credentials', async t => {
  const p = await start(t)
  const body = JSON.stringify({ scope: 'customer/update', id: '1' })
  const wrongSignature = signed('whsec_' + randomBytes(32).toString('base64'), body)
  const tries: Record<string, Record<string, string>> = { 'no credentials': {}, 'a wrong key': { authorization: 'Bearer wrong' }, 'a wrong signature': wrongSignature }
  for (const [what, headers] of Object.entries(tries)) {
    const known = await rejected(t, p, () => post(p, body, headers), 401, 'unauthorized')
    const unknown = await rejected(t, p, () => post(p, body, headers, 'no-such-system'), 401, 'unauthorized')
    t.same(unknown.json(), known.json(), `${what}: the same answer`)
  }
  const metrics = (await p.app.inject({ url: '/metrics', headers: p.auth })).body
  t.notMatch(metrics, 'no-such-system', "a sender's made-up name is no metrics label")
  t.match(metrics, /hub_webhooks_total\{system="\(unknown\)",outcome="rejected"\} [1-9]/, 'it is counted as (unknown)')
})

t.test('a webhook key replaced over the API is refused at once, though it was just accepted', async t => {
  const p = await start(t)
  await putPlainSystem(t, p)
  const body = { scope: 'customer/update', id: '1' }
  receipt(t, await post(p, body, plainAuth, 'plain'), { accepted: 1, coalesced: 0, duplicates: 0 }, 'the key admits')
  receipt(t, await post(p, body, plainAuth, 'plain'), { accepted: 1, coalesced: 1, duplicates: 0 }, 'and admits again')
  const next = 'next-webhook-key-0123456789'
  await putPlainSystem(t, p, [next], 200)
  await rejected(t, p, () => post(p, body, plainAuth, 'plain'), 401, 'unauthorized', 'invalid webhook key')
  const nextAuth = { authorization: `Bearer ${next}` }
  receipt(t, await post(p, { scope: 'customer/update', id: '2' }, nextAuth, 'plain'), { accepted: 1, coalesced: 0, duplicates: 0 }, 'the new key admits')
  await putPlainSystem(t, p, [PLAIN_KEY], 200)
  await rejected(t, p, () => post(p, body, nextAuth, 'plain'), 401, 'unauthorized', 'invalid webhook key')
})

t.test('Standard Webhooks signatures', async t => {
  const body = JSON.stringify({ scope: 'customer/update', id: '5' })

  t.test('a correctly signed request needs no bearer key', async t => {
    const p = await start(t)
    const res = await post(p, body, signed(p.configEnv.SHOP_WEBHOOK_SECRET, body))
    t.equal(res.statusCode, 202)
    receipt(t, res, { accepted: 1, coalesced: 0, duplicates: 0 })
    const jobs = await inboundJobs(p.hub)
    t.same(jobs.map(j => j.data), [{ system: 'shop', type: 'customer', action: 'update', id: '5' }])
  })

  t.test('bad signatures, stale timestamps and tampered bodies are refused', async t => {
    const p = await start(t)
    const otherSecret = 'whsec_' + randomBytes(32).toString('base64')
    await rejected(t, p, () => post(p, body, signed(otherSecret, body)), 401, 'unauthorized', /webhook signature rejected/)

    const tampered = JSON.stringify({ scope: 'customer/update', id: '6' })
    await rejected(t, p, () => post(p, tampered, signed(p.configEnv.SHOP_WEBHOOK_SECRET, body)), 401, 'unauthorized', /webhook signature rejected/)

    const tenMinutesAgo = new Date(Date.now() - 10 * 60 * 1000)
    await rejected(t, p, () => post(p, body, signed(p.configEnv.SHOP_WEBHOOK_SECRET, body, tenMinutesAgo)), 401, 'unauthorized', /timestamp too old/)

    const tenMinutesAhead = new Date(Date.now() + 10 * 60 * 1000)
    await rejected(t, p, () => post(p, body, signed(p.configEnv.SHOP_WEBHOOK_SECRET, body, tenMinutesAhead)), 401, 'unauthorized', /timestamp too new/)

    const { 'webhook-id': _id, ...noId } = signed(p.configEnv.SHOP_WEBHOOK_SECRET, body)
    await rejected(t, p, () => post(p, body, noId), 401, 'unauthorized', /webhook signature rejected/)

    // A bad signature is not rescued by a valid bearer key sent with it.
    await rejected(t, p, () => post(p, body, { ...signed(otherSecret, body), ...bearer(p) }), 401, 'unauthorized', /webhook signature rejected/)
  })

  t.test('a second signing secret works, so secrets can be rotated', async t => {
    const p = await start(t)
    const oldSecret = p.configEnv.SHOP_WEBHOOK_SECRET
    const newSecret = 'whsec_' + randomBytes(32).toString('base64')
    await rejected(t, p, () => post(p, body, signed(newSecret, body)), 401, 'unauthorized', /webhook signature rejected/)

    const doc = await exampleSystem('shop', p.configEnv)
    doc.webhooks.signingSecrets = [oldSecret, newSecret]
    const put = await p.app.inject({ method: 'PUT', url: '/v1/systems/shop', headers: p.auth, payload: doc })
    t.equal(put.statusCode, 200, 'the shop is replaced')
    t.same(put.json().webhooks.signingSecrets, ['***', '***'], 'two secrets, both redacted')

    const withNew = await post(p, body, signed(newSecret, body))
    t.equal(withNew.statusCode, 202, 'the new secret is accepted')
    const other = JSON.stringify({ scope: 'product/update', id: '5' })
    const withOld = await post(p, other, signed(oldSecret, other))
    t.equal(withOld.statusCode, 202, 'the old secret still is')
    t.same((await inboundJobs(p.hub)).map(j => j.data), [
      { system: 'shop', type: 'customer', action: 'update', id: '5' },
      { system: 'shop', type: 'product', action: 'update', id: '5' }
    ])

    doc.webhooks.signingSecrets = [newSecret]
    t.equal((await p.app.inject({ method: 'PUT', url: '/v1/systems/shop', headers: p.auth, payload: doc })).statusCode, 200)
    const retired = JSON.stringify({ scope: 'order/update', id: '5' })
    const res = await post(p, retired, signed(oldSecret, retired))
    t.equal(res.statusCode, 401, 'a retired secret is refused')
    t.equal(await inboundCount(p.hub), 2)
  })
  t.end()
})

t.test('malformed, oversized and non-JSON bodies', async t => {
  const p = await start(t)
  await rejected(t, p, () => post(p, '{"scope": "customer/update", "id": ', bearer(p)), 400, 'invalid_json', /malformed JSON/)
  await rejected(t, p, () => post(p, '', bearer(p)), 400, 'invalid_json', undefined)
  // A webhook's own parser keeps a `__proto__` key as a plain key: unknown to an item.
  await rejected(t, p, () => post(p, '{"scope": "customer/update", "id": "1", "__proto__": {"x": 1}}', bearer(p)), 400, 'validation_failed', '__proto__: unknown key')

  const big = JSON.stringify({ scope: 'customer/update', id: '1', padding: 'x'.repeat(1024 * 1024) })
  await rejected(t, p, () => post(p, big, bearer(p)), 413, 'payload_too_large', 'the body is larger than this route takes (1 MiB)')

  // JSON sent as text/plain is told the type to send, not judged as one string.
  const text = await rejected(t, p, () => post(p, { scope: 'customer/update', id: '1' }, { ...bearer(p), 'content-type': 'text/plain' }), 415, 'unsupported_media_type', /send application\/json/)
  t.notMatch(text.json().error.message, /id/, 'and no field is blamed')

  // Just under the limit is fine.
  // (Padded with whitespace, which JSON allows anywhere: the item itself takes no other key.)
  const near = JSON.stringify({ scope: 'customer/update', id: '1' }) + ' '.repeat(1024 * 1024 - 100)
  const ok = await post(p, near, bearer(p))
  t.equal(ok.statusCode, 202, 'a body just under 1 MiB is taken')
})

t.test('scopes the system may not send are refused with the accepted list', async t => {
  const p = await start(t)
  for (const scope of ['customer/explode', 'invoice/create', 'customer/poll', 'customer']) {
    const res = await rejected(t, p, () => post(p, { scope, id: '1' }, bearer(p)), 400, 'validation_failed', `scope: '${scope}' is not a scope shop may send; accepted: ${SHOP_SCOPES.join(', ')}`)
    t.same(res.json().error.details, [{ path: 'scope', message: `'${scope}' is not a scope shop may send; accepted: ${SHOP_SCOPES.join(', ')}`, acceptedScopes: SHOP_SCOPES }],
      'details: the field, as every field error, with the accepted scopes')
  }

  await putPlainSystem(t, p)
  await rejected(t, p, () => post(p, { scope: 'customer/create', id: '1' }, plainAuth, 'plain'), 400, 'validation_failed', "scope: 'customer/create' is not a scope plain may send; accepted: customer/update, customer/delete")
  await rejected(t, p, () => post(p, { scope: 'product/update', id: '1' }, plainAuth, 'plain'), 400, 'validation_failed', /accepted: customer\/update, customer\/delete$/)

  const mixed = [{ scope: 'customer/update', id: '1' }, { scope: 'customer/update', id: '2' }, { scope: 'customer/explode', id: '3' }]
  await rejected(t, p, () => post(p, mixed, plainAuth, 'plain'), 400, 'validation_failed', /^\[2\]\.scope: 'customer\/explode' is not a scope plain may send/)
  await rejected(t, p, () => post(p, mixed, bearer(p)), 400, 'validation_failed', /^\[2\]\.scope: 'customer\/explode' is not a scope shop may send/)
  // A misspelt key is named: the webhook would otherwise run without its debug trace.
  await rejected(t, p, () => post(p, [{ scope: 'customer/update', id: '1' }, { scope: 'customer/update', id: '2', debg: true }], bearer(p)), 400, 'validation_failed', '[1].debg: unknown key')
})

t.test('missing ids and wrong types are refused, naming the field', async t => {
  const p = await start(t)
  await rejected(t, p, () => post(p, { scope: 'customer/update' }, bearer(p)), 400, 'validation_failed', /^id: required/)
  await rejected(t, p, () => post(p, { scope: 'customer/update', id: '' }, bearer(p)), 400, 'validation_failed', /^id: /)
  await rejected(t, p, () => post(p, { scope: 'customer/update', id: null }, bearer(p)), 400, 'validation_failed', 'id: expected string or number, received null')
  await rejected(t, p, () => post(p, { scope: 'customer/update', id: { value: 1 } }, bearer(p)), 400, 'validation_failed', 'id: expected string or number, received object')
  await rejected(t, p, () => post(p, '{"scope": "customer/update", "id": 1e400}', bearer(p)), 400, 'validation_failed', 'id: expected string or number, received a number too large')
  await rejected(t, p, () => post(p, { scope: 42, id: '1' }, bearer(p)), 400, 'validation_failed', /^scope: /)
  const boolId = await post(p, { scope: 'customer/update', id: true }, bearer(p))
  t.equal(boolId.statusCode, 400, 'id: true is refused')
  t.match(boolId.json(), { error: { code: 'validation_failed', message: /^id: / } }, 'naming the field')
  t.equal(await inboundCount(p.hub), 0, 'nothing was enqueued')

  await putPlainSystem(t, p)
  const plain = (body: unknown) => post(p, body, plainAuth, 'plain')
  await rejected(t, p, () => plain({ scope: 'customer/update' }), 400, 'validation_failed', /^id: required/)
  await rejected(t, p, () => plain({ id: '1' }), 400, 'validation_failed', /^scope: required/)
  await rejected(t, p, () => plain({ scope: 'customer/update', id: true }), 400, 'validation_failed', /^id: /)
  await rejected(t, p, () => plain({ scope: 'customer/update', id: { nested: 1 } }), 400, 'validation_failed', /^id: /)
  await rejected(t, p, () => plain({ scope: 'customer/update', id: '   ' }), 400, 'validation_failed', /^id: /)
  await rejected(t, p, () => plain({ scope: 'customer/update', id: 'x'.repeat(256) }), 400, 'validation_failed', /^id: /)
  await rejected(t, p, () => plain({ scope: 'customer/update', id: '1', debug: 'yes' }), 400, 'validation_failed', /^debug: /)
  await rejected(t, p, () => plain([{ scope: 'customer/update', id: '1' }, { scope: 'customer/update' }]), 400, 'validation_failed', /^\[1\]\.id: required/)
  await rejected(t, p, () => plain([{ scope: 'customer/update', id: '1' }, 'customer/update:2']), 400, 'validation_failed', /^\[1\]: /)
  await rejected(t, p, () => plain('"customer/update"'), 400, 'validation_failed', /^\(root\): /)
  await rejected(t, p, () => plain('null'), 400, 'validation_failed')
  const res = await plain([{ scope: 'customer/update', id: '1' }, { scope: 'customer/update', id: false }])
  t.match(res.json().error.details, [{ path: '[1].id' }], 'details carry every issue with its path')
})

t.test('redeliveries with the same webhook-id or Idempotency-Key are duplicates', async t => {
  const p = await start(t)
  const body = { scope: 'customer/delete', id: '9' }
  const first = await post(p, body, { ...bearer(p), 'webhook-id': 'evt-1' })
  receipt(t, first, { accepted: 1, coalesced: 0, duplicates: 0 })
  const again = await post(p, body, { ...bearer(p), 'webhook-id': 'evt-1' })
  t.equal(again.statusCode, 202, 'a redelivery is acknowledged')
  receipt(t, again, { accepted: 0, coalesced: 0, duplicates: 1 })
  t.equal(await inboundCount(p.hub), 1, 'one job')

  const k1 = await post(p, { scope: 'product/update', id: '9' }, { ...bearer(p), 'idempotency-key': 'key-1' })
  receipt(t, k1, { accepted: 1, coalesced: 0, duplicates: 0 })
  const k2 = await post(p, { scope: 'product/update', id: '9' }, { ...bearer(p), 'idempotency-key': 'key-1' })
  receipt(t, k2, { accepted: 0, coalesced: 0, duplicates: 1 })
  t.equal(await inboundCount(p.hub), 2)

  // A different event for the same record is not a duplicate (it coalesces into the waiting fetch).
  const k3 = await post(p, { scope: 'product/update', id: '9' }, { ...bearer(p), 'idempotency-key': 'key-2' })
  receipt(t, k3, { accepted: 1, coalesced: 1, duplicates: 0 })

  // A signed redelivery: same webhook-id, re-signed with a fresh timestamp.
  const raw = JSON.stringify({ scope: 'order/update', id: '9' })
  const s1 = await post(p, raw, signed(p.configEnv.SHOP_WEBHOOK_SECRET, raw, new Date(), 'msg_redelivered'))
  receipt(t, s1, { accepted: 1, coalesced: 0, duplicates: 0 })
  const s2 = await post(p, raw, signed(p.configEnv.SHOP_WEBHOOK_SECRET, raw, new Date(Date.now() + 1000), 'msg_redelivered'))
  receipt(t, s2, { accepted: 0, coalesced: 0, duplicates: 1 })
  t.equal(await inboundCount(p.hub), 3)

  // Concurrent redeliveries: exactly one is taken.
  const burst = await Promise.all(Array.from({ length: 10 }, () => post(p, { scope: 'customer/update', id: '10' }, { ...bearer(p), 'webhook-id': 'evt-burst' })))
  t.same(burst.map(r => r.statusCode), Array(10).fill(202))
  t.equal(burst.reduce((n, r) => n + r.json().accepted, 0), 1, 'one accepted')
  t.equal(burst.reduce((n, r) => n + r.json().duplicates, 0), 9, 'nine duplicates')
  t.equal(await inboundCount(p.hub), 4)

  // Event ids are per system: the same id from another system is news.
  await putPlainSystem(t, p)
  const plain = await post(p, { scope: 'customer/delete', id: '9' }, { ...plainAuth, 'webhook-id': 'evt-1' }, 'plain')
  receipt(t, plain, { accepted: 1, coalesced: 0, duplicates: 0 })

  // A rejected request does not burn its event id.
  const bad = await post(p, { scope: 'customer/explode', id: '11' }, { ...bearer(p), 'webhook-id': 'evt-retry' })
  t.equal(bad.statusCode, 400)
  const fixed = await post(p, { scope: 'customer/update', id: '11' }, { ...bearer(p), 'webhook-id': 'evt-retry' })
  receipt(t, fixed, { accepted: 1, coalesced: 0, duplicates: 0 })
})

t.test('a burst of changes to one record coalesces into one queued fetch', async t => {
  const p = await start(t)
  const answers = await Promise.all(Array.from({ length: 50 }, () => post(p, { scope: 'customer/update', id: '7' }, bearer(p))))
  t.same(answers.map(r => r.statusCode), Array(50).fill(202), 'every post is acknowledged')
  t.equal(answers.reduce((n, r) => n + r.json().accepted, 0), 50, 'every item counts as accepted')
  t.equal(answers.reduce((n, r) => n + r.json().coalesced, 0), 49, '49 coalesced')
  t.equal(answers.reduce((n, r) => n + r.json().duplicates, 0), 0)
  await pumpBacklog(p.hub)
  const { rows } = await p.hub.pool.query<{ state: string, n: number }>(
    "SELECT state::text AS state, count(*)::int AS n FROM pgboss.job WHERE name = 'inbound' AND singleton_key = 'shop:customer:7:fetch' GROUP BY state")
  t.same(rows, [{ state: 'created', n: 1 }], 'one fetch waiting')
  t.equal(await inboundCount(p.hub), 1, 'and nothing else')

  // Creates and updates of one record are the same fetch.
  const create = await post(p, { scope: 'customer/create', id: '7' }, bearer(p))
  receipt(t, create, { accepted: 1, coalesced: 1, duplicates: 0 })
  // Another record is not held back.
  const other = await post(p, { scope: 'customer/update', id: '8' }, bearer(p))
  receipt(t, other, { accepted: 1, coalesced: 0, duplicates: 0 })
  t.equal(await inboundCount(p.hub), 2)
})

t.test('items of one array coalesce among themselves', async t => {
  const p = await start(t)
  await putPlainSystem(t, p)
  const res = await post(p, [{ scope: 'customer/update', id: '1' }, { scope: 'customer/update', id: '1' }, { scope: 'customer/update', id: '2' }], plainAuth, 'plain')
  t.equal(res.statusCode, 202)
  receipt(t, res, { accepted: 3, coalesced: 1, duplicates: 0 })
  t.equal(await inboundCount(p.hub), 2)
})

t.test('a delete never coalesces into a waiting update of the same record', async t => {
  const p = await start(t)
  const update = await post(p, { scope: 'customer/update', id: '3' }, bearer(p))
  receipt(t, update, { accepted: 1, coalesced: 0, duplicates: 0 })
  const del = await post(p, { scope: 'customer/delete', id: '3' }, bearer(p))
  receipt(t, del, { accepted: 1, coalesced: 0, duplicates: 0 }, 'the delete is queued on its own')
  const jobs = await inboundJobs(p.hub)
  t.same(jobs.map(j => [j.data.action, j.singleton_key, j.state]), [
    ['update', 'shop:customer:3:fetch', 'created'],
    ['delete', 'shop:customer:3:delete', 'created']
  ], 'both jobs are queued')

  // A second delete of the same record does coalesce with the first.
  const del2 = await post(p, { scope: 'customer/delete', id: '3' }, bearer(p))
  receipt(t, del2, { accepted: 1, coalesced: 1, duplicates: 0 })
  t.equal(await inboundCount(p.hub), 2)
})

t.test('debug items jump the queue and are never coalesced', async t => {
  const check = async (t: Test, p: Pipeline, system: string, headers: Record<string, string>) => {
    const normal = await post(p, { scope: 'customer/update', id: '4' }, headers, system)
    receipt(t, normal, { accepted: 1, coalesced: 0, duplicates: 0 })
    const debug1 = await post(p, { scope: 'customer/update', id: '4', debug: true }, headers, system)
    const debug2 = await post(p, { scope: 'customer/update', id: '4', debug: true }, headers, system)
    receipt(t, debug1, { accepted: 1, coalesced: 0, duplicates: 0 }, 'a debug item is not coalesced into the waiting fetch')
    receipt(t, debug2, { accepted: 1, coalesced: 0, duplicates: 0 }, 'nor into another debug item')
    const jobs = (await inboundJobs(p.hub)).filter(j => j.data.system === system)
    t.equal(jobs.length, 3, 'three jobs queued')
    const plainJobs = jobs.filter(j => !j.data.debug)
    const debugJobs = jobs.filter(j => j.data.debug === true)
    t.equal(plainJobs.length, 1, 'one normal job')
    t.equal(debugJobs.length, 2, 'two debug jobs')
    for (const d of debugJobs) {
      t.ok(d.priority > plainJobs[0].priority, `debug priority ${d.priority} is above the normal ${plainJobs[0].priority}`)
      t.not(d.singleton_key, plainJobs[0].singleton_key)
    }
  }
  t.test('on a system without extract', async t => {
    const p = await start(t)
    await putPlainSystem(t, p)
    await check(t, p, 'plain', plainAuth)
    // The queue hands out the debug jobs before the normal one queued earlier.
    const order = []
    for (let i = 0; i < 3; i++) {
      const [job] = await p.hub.boss.fetch<Record<string, unknown>>('inbound')
      order.push(job?.data.debug === true ? 'debug' : 'normal')
    }
    t.same(order, ['debug', 'debug', 'normal'], 'a worker fetches the debug jobs first')
  })
  t.test('on the shop', async t => {
    const p = await start(t)
    await check(t, p, 'shop', bearer(p))
  })
  t.end()
})

t.test("one sender's poisoned webhooks never fail another sender's", async t => {
  const p = await start(t)
  await putPlainSystem(t, p)
  const long = 'x'.repeat(3_000)
  const poisoned: Array<[unknown, Record<string, string>, RegExp]> = [
    [{ scope: 'customer/update', id: 'a\u0000b' }, {}, /^id: contains a NUL character/],
    [{ scope: 'customer/update', id: '\ud800' }, {}, /^id: contains an unpaired surrogate/],
    [[{ scope: 'customer/update', id: '1' }, { scope: 'customer/update', id: 'x\u0000' }], {}, /^\[1\]\.id: contains a NUL/],
    [{ scope: 'customer/update', id: '2' }, { 'webhook-id': long }, /^headers\.webhook-id: longer than 255/],
    [{ scope: 'customer/update', id: '3' }, { 'idempotency-key': long }, /^headers\.idempotency-key: longer than 255/]
  ]
  const valid = Array.from({ length: 100 }, (_, i) => post(p, { scope: 'customer/update', id: `v${i}` }, bearer(p)))
  const bad = poisoned.flatMap(([body, headers]) => [0, 1].map(() => post(p, body, { ...plainAuth, ...headers }, 'plain')))
  const [good, refused] = await Promise.all([Promise.all(valid), Promise.all(bad)])
  t.same(good.map(r => r.statusCode), good.map(() => 202), 'every valid webhook of the other system is accepted')
  refused.forEach((res, i) => {
    t.equal(res.statusCode, 400, `poisoned webhook ${i} is its own 400`)
    t.match(res.json().error, { code: 'validation_failed', message: poisoned[Math.floor(i / 2)][2] }, 'naming the field')
  })
  t.equal(await inboundCount(p.hub), 100, 'exactly the valid ones are queued')
})

/** A hub, its ingest group commit used directly (past the edge checks), and a job row maker. */
async function groupCommitOf (t: Test) {
  const p = await start(t)
  const { groupCommit } = await import('../src/ingest/group-commit.ts')
  const { inboundRow } = await import('../src/pipeline/jobs.ts')
  const row = (id: string) => inboundRow({ system: 'shop', type: 'customer', action: 'update', id })
  return { p, ingest: groupCommit(p.hub.pool, p.hub.boss), row }
}

t.test('a member the database refuses is failed alone; the rest of its group commit is stored', async t => {
  const { p, ingest, row } = await groupCommitOf(t)
  // Past the edge checks on purpose: the root guarantee must hold whatever a member carries.
  const results = await Promise.allSettled([
    ingest.submit({ systemId: 'shop', eventId: 'e1', rows: [row('g1')] }),
    ingest.submit({ systemId: 'shop', eventId: 'bad\u0000', rows: [row('b1')] }),
    ingest.submit({ systemId: 'shop', rows: [row('g2')] })
  ])
  t.same(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'only the poisoned member fails')
  t.same((await inboundJobs(p.hub)).map(j => j.data.id).sort(), ['g1', 'g2'], 'the others are committed')
})

t.test('a batch without event ids (one statement, no transaction) also fails a refused member alone', async t => {
  const { p, ingest, row } = await groupCommitOf(t)
  const results = await Promise.allSettled([
    ingest.submit({ systemId: 'shop', rows: [row('g1')] }),
    ingest.submit({ systemId: 'shop', rows: [row('bad\u0000')] }),
    ingest.submit({ systemId: 'shop', rows: [row('g2'), row('g3')] })
  ])
  t.same(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'only the poisoned member fails')
  t.same((await inboundJobs(p.hub)).map(j => j.data.id).sort(), ['g1', 'g2', 'g3'], 'the others are committed')
})
