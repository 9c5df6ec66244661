// /v1/systems: systems managed at run time. Responses never carry secrets, invalid documents
// are refused with the exact path and leave the stored version alone, documents may reference
// only HUB_SECRET_* variables, and a stored system is live for webhooks at once.
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { buildTestHub } from './helpers/hub.ts'
import type { TestHub } from './helpers/hub.ts'
import { inboundJobs, startPipeline } from './helpers/pipeline.ts'

type Response = Awaited<ReturnType<TestHub['app']['inject']>>

const TOKEN = 'alpha-api-token-not-for-eyes'
const WEBHOOK_KEY = 'alpha-webhook-key-0123456789'
const SIGNING_SECRET = 'whsec_' + randomBytes(32).toString('base64')

/** A valid system document with an inbound customer flow, as a client would PUT it. */
const document = (over: Record<string, unknown> = {}): Record<string, any> => ({
  name: 'Alpha',
  baseUrl: 'http://127.0.0.1:9/api/',
  allowPrivateNetwork: true,
  auth: { kind: 'bearer', token: TOKEN },
  webhooks: { keys: [WEBHOOK_KEY], signingSecrets: [SIGNING_SECRET] },
  types: { customer: { get: { path: '/customers/{id}' } } },
  flows: [{ type: 'customer', direction: 'inbound', mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }],
  ...over
})

const put = (h: TestHub, id: string, body: unknown, headers: Record<string, string> = h.auth) =>
  h.app.inject({ method: 'PUT', url: `/v1/systems/${id}`, headers, payload: body as object })
const get = (h: TestHub, id: string, headers: Record<string, string> = h.auth) => h.app.inject({ url: `/v1/systems/${id}`, headers })
const list = (h: TestHub, headers: Record<string, string> = h.auth) => h.app.inject({ url: '/v1/systems', headers })
const del = (h: TestHub, id: string, headers: Record<string, string> = h.auth) => h.app.inject({ method: 'DELETE', url: `/v1/systems/${id}`, headers })

function failed (t: Test, res: Response, status: number, code: string, message?: string | RegExp) {
  t.equal(res.statusCode, status, `answers ${status}`)
  const body = res.json()
  t.same(Object.keys(body), ['error'], 'the error envelope')
  t.equal(body.error?.code, code, `code ${code}`)
  if (message !== undefined) t.match(body.error?.message, message, 'the message names the problem')
}

/** The body contains none of `secrets`, and does contain the marker they are shown as. */
function redacted (t: Test, res: Response, secrets: string[], what: string, marker = '"***"') {
  for (const secret of secrets) t.notOk(res.body.includes(secret), `${what}: ${secret.slice(0, 12)}… is not in the response`)
  t.ok(res.body.includes(marker), `${what}: secrets are shown as ${marker}`)
}

const inboundData = async (h: TestHub) => (await inboundJobs(h.hub)).map(r => r.data)

/** Set an environment variable for the rest of the test. */
function setEnv (t: Test, name: string, value: string) {
  const before = process.env[name]
  process.env[name] = value
  t.teardown(() => {
    if (before === undefined) delete process.env[name]
    else process.env[name] = before
  })
}

t.test('the configured systems are listed and shown without their secrets', async t => {
  const p = await startPipeline(t, { workers: false })
  const secrets = [p.configEnv.SHOP_TOKEN, p.configEnv.SHOP_WEBHOOK_KEY, p.configEnv.SHOP_WEBHOOK_SECRET, p.configEnv.CRM_API_KEY, p.configEnv.ERP_PASSWORD]

  const all = await list(p)
  t.equal(all.statusCode, 200)
  const systems = all.json().systems as Array<Record<string, any>>
  t.same(systems.map(s => s.id).sort(), ['crm', 'erp', 'shop'])
  // The file's documents are shown as written: ${ENV} references, never their values.
  redacted(t, all, secrets, 'GET /v1/systems', '"${SHOP_TOKEN}"')

  const shop = await get(p, 'shop')
  t.equal(shop.statusCode, 200)
  redacted(t, shop, secrets, 'GET /v1/systems/shop', '"${SHOP_TOKEN}"')
  t.match(shop.json(), {
    id: 'shop',
    name: 'Web shop',
    source: 'file',
    baseUrl: '${SHOP_URL}',
    auth: { kind: 'bearer', token: '${SHOP_TOKEN}' },
    webhooks: { keys: ['${SHOP_WEBHOOK_KEY}'], signingSecrets: ['${SHOP_WEBHOOK_SECRET}'] },
    throttle: { maxConcurrent: 4, perSecond: 20 }
  }, 'the rest of the system is shown as configured')
  t.ok(shop.json().webhooks.extract, 'the extract expression is not a secret')

  const crm = await get(p, 'crm')
  redacted(t, crm, secrets, 'GET /v1/systems/crm', '"${CRM_API_KEY}"')
  t.same(crm.json().auth, { kind: 'header', name: 'x-api-key', value: '${CRM_API_KEY}' }, 'the header name stays, its value is a reference')

  const erp = await get(p, 'erp')
  redacted(t, erp, secrets, 'GET /v1/systems/erp', '"${ERP_PASSWORD}"')
  t.same(erp.json().auth, { kind: 'basic', username: '${ERP_USER}', password: '${ERP_PASSWORD}' })

  failed(t, await get(p, 'nope'), 404, 'not_found', "no system 'nope'")
  failed(t, await get(p, 'Not_An_Id'), 400, 'validation_failed', /^params\.id: /)
})

t.test('a document read with GET, edited and put back keeps its secrets; a *** with none behind it is refused', async t => {
  const h = await buildTestHub(t, { workers: false })
  const original = document({ baseUrl: 'http://alpha:url-password-secret@127.0.0.1:9/api', breaker: { failures: 3, probeAfterMs: 5_000 } })
  t.equal((await put(h, 'alpha', original)).statusCode, 201)
  const stored = async () => (await h.hub.systems.documents()).find(s => s.id === 'alpha')!.document as Record<string, any>
  const before = await stored()

  const shown = (await get(h, 'alpha')).json()
  t.same(shown.breaker, { failures: 3, probeAfterMs: 5_000 }, "the configured breaker is shown, beside the breaker's state")
  t.equal(shown.breakerState.state, 'closed')
  const edited = await put(h, 'alpha', { ...shown, name: 'Alpha, edited' })
  t.equal(edited.statusCode, 200, edited.body)
  const after = await stored()
  t.same({ ...after, name: before.name }, before, 'every secret kept as stored, only the name changed')
  t.equal(after.name, 'Alpha, edited')
  t.equal(after.auth.token, TOKEN)

  failed(t, await put(h, 'beta', { ...shown, id: 'beta' }), 400, 'validation_failed', /^auth\.token: '\*\*\*' is how the hub shows a stored secret/)
  failed(t, await put(h, 'alpha', { ...shown, auth: { kind: 'basic', username: 'u', password: '***' } }), 400, 'validation_failed', /^auth\.password: /)
  t.same(await stored(), after, 'a refused document leaves the stored one alone')

  // Pointed at another host, a document may not take the stored secrets along: a key that may
  // write systems but is never shown a secret would otherwise send it where it likes.
  const moved = await put(h, 'alpha', { ...shown, baseUrl: 'http://127.0.0.1:4113/api' })
  failed(t, moved, 400, 'validation_failed', 'auth.token: a stored secret is kept only while baseUrl stays at http://127.0.0.1:9: send the secret itself to use it with http://127.0.0.1:4113')
  t.same(await stored(), after, 'nothing was changed')
  // The URL's masked password, moved with its host, is refused too: it would become the password '***'.
  failed(t, await put(h, 'alpha', { ...shown, baseUrl: 'http://alpha:***@127.0.0.1:4113/api', auth: { kind: 'bearer', token: 'a-token-for-the-new-host' } }), 400, 'validation_failed', /^baseUrl: '\*\*\*' is how the hub shows a stored secret/)
  const resent = await put(h, 'alpha', { ...shown, baseUrl: 'http://127.0.0.1:4113/api', auth: { kind: 'bearer', token: 'a-token-for-the-new-host' } })
  t.equal(resent.statusCode, 200, 'with the secret sent itself, the move is taken')
  t.same((await stored()).webhooks, after.webhooks, "the webhook secrets, never sent anywhere, are kept as they were")
})

t.test('a stored system this process cannot use says why', async t => {
  const p = await startPipeline(t, { workers: false })
  // Another process on the same database, started without the config file's variables.
  const other = await buildTestHub(t, { databaseUrl: p.databaseUrl, workers: false, configEnv: {} })
  const shown = (await get(other, 'shop')).json()
  t.match(shown.unusable, [/environment variable SHOP_\w+ is not set/], 'GET names what it lacks')
  t.match((await list(other)).json().systems.find((s: { id: string }) => s.id === 'shop'), { unusable: Array }, 'and so does the list')
  t.notOk('unusable' in (await get(p, 'shop')).json(), 'where the variables are set, nothing is said')
})

t.test('credentials in a base URL are redacted too', async t => {
  const h = await buildTestHub(t, { workers: false })
  const res = await put(h, 'withurl', document({ baseUrl: 'http://alpha:url-password-secret@127.0.0.1:9/api' }))
  t.equal(res.statusCode, 201)
  t.notOk(res.body.includes('url-password-secret'), 'not in the PUT answer')
  const shown = await get(h, 'withurl')
  t.notOk(shown.body.includes('url-password-secret'), 'not in the GET answer')
  t.equal(shown.json().baseUrl, 'http://alpha:***@127.0.0.1:9/api')
})

t.test('PUT creates (201) then replaces (200); GET and the list show it', async t => {
  const h = await buildTestHub(t, { workers: false })
  failed(t, await get(h, 'alpha'), 404, 'not_found')

  const created = await put(h, 'alpha', document())
  t.equal(created.statusCode, 201, 'created')
  redacted(t, created, [TOKEN, WEBHOOK_KEY, SIGNING_SECRET], 'the PUT answer')
  t.match(created.json(), { id: 'alpha', name: 'Alpha', baseUrl: 'http://127.0.0.1:9/api', source: 'api' }, 'the id comes from the URL; the document is shown as stored')

  const shown = await get(h, 'alpha')
  t.equal(shown.statusCode, 200)
  const closed = { state: 'closed', failures: 0, openedAt: null, nextProbeAt: null, lastError: null }
  t.same(shown.json(), { ...created.json(), breakerState: closed }, 'GET shows what PUT answered, and the circuit breaker')
  redacted(t, shown, [TOKEN, WEBHOOK_KEY, SIGNING_SECRET], 'GET')
  t.same(shown.json().flows.map((f: { type: string, direction: string }) => [f.type, f.direction]), [['customer', 'inbound']])

  const replaced = await put(h, 'alpha', document({ id: 'alpha', name: 'Alpha v2', throttle: { maxConcurrent: 2 } }))
  t.equal(replaced.statusCode, 200, 'replaced')
  const after = await get(h, 'alpha')
  t.match(after.json(), { name: 'Alpha v2', throttle: { maxConcurrent: 2 } }, 'GET shows the new version')
  const all = await list(h)
  t.same(all.json().systems.map((s: { id: string, name: string }) => [s.id, s.name]), [['alpha', 'Alpha v2']], 'listed once')
})

t.test('an invalid document is refused with the exact path and the stored version is kept', async t => {
  const h = await buildTestHub(t, { workers: false })
  t.equal((await put(h, 'alpha', document())).statusCode, 201)
  const before = (await get(h, 'alpha')).body

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a path without a leading slash', document({ types: { customer: { get: { path: 'customers/{id}' } } } }),
      "types.customer.get.path: must start with '/'"],
    ['an inbound flow without a get endpoint', document({ types: { customer: { update: { path: '/customers/{id}' } } } }),
      'flows[0].direction: inbound needs types.customer.get (or a poll with fullRecords: true)'],
    ['a get endpoint without {id}', document({ types: { customer: { get: { path: '/customers' } } } }),
      'types.customer.get.path: must contain {id} (in the path or a query value)'],
    ['a misspelt key', document({ baseURL: 'http://127.0.0.1:9' }), 'baseURL: '],
    ['no base URL', (({ baseUrl: _, ...rest }) => rest)(document()), 'baseUrl: '],
    ['a short webhook key', document({ webhooks: { keys: ['short'] } }), 'webhooks.keys[0]: must be at least 16 characters'],
    ['a signing secret that is not whsec_', document({ webhooks: { signingSecrets: ['not-a-secret'] } }), 'webhooks.signingSecrets[0]: must be whsec_'],
    ['a bad mapping', document({ flows: [{ type: 'customer', direction: 'inbound', mappings: [{ kind: 'expression', expression: '$$$(', to: 'x' }] }] }),
      'flows[0].mappings[0].expression: invalid JSONata'],
    ['an unknown data type', document({ flows: [{ type: 'invoice', direction: 'inbound', mappings: [{ kind: 'field', from: 'a', to: 'b' }] }] }),
      'flows[0].type: ']
  ]
  for (const [what, body, message] of cases) {
    const res = await put(h, 'alpha', body)
    failed(t, res, 400, 'validation_failed', message)
    t.ok(res.json().error.message.startsWith(message), `${what}: the message starts with "${message}"`)
    t.ok(Array.isArray(res.json().error.details) && res.json().error.details.some((d: { path: string, message: string }) => `${d.path}: ${d.message}`.startsWith(message)), `${what}: listed in details as {path, message}`)
    t.equal((await get(h, 'alpha')).body, before, `${what}: the previous version is kept`)
  }

  const missing = await put(h, 'alpha', (({ baseUrl: _, ...rest }) => rest)(document()))
  t.equal(missing.json().error.message, 'baseUrl: required', 'a missing key is reported as required, like every other missing key')

  // Every problem is listed, not only the first.
  const many = await put(h, 'alpha', document({ baseUrl: 'ftp://x', timeoutMs: 5, webhooks: { keys: ['short'] } }))
  t.equal(many.statusCode, 400)
  t.ok(many.json().error.details.length >= 3, 'details hold every issue')

  // A new system that is invalid is not created.
  failed(t, await put(h, 'beta', document({ types: { customer: { get: { path: 'x' } } } })), 400, 'validation_failed')
  failed(t, await get(h, 'beta'), 404, 'not_found')

  // Bodies that are not objects.
  failed(t, await h.app.inject({ method: 'PUT', url: '/v1/systems/alpha', headers: { ...h.auth, 'content-type': 'application/json' }, payload: '[]' }), 400, 'validation_failed')
  failed(t, await h.app.inject({ method: 'PUT', url: '/v1/systems/alpha', headers: { ...h.auth, 'content-type': 'application/json' }, payload: '{"name": ' }), 400, 'invalid_json')
  t.equal((await get(h, 'alpha')).body, before)
})

t.test('the id in the body must match the URL', async t => {
  const h = await buildTestHub(t, { workers: false })
  failed(t, await put(h, 'alpha', document({ id: 'beta' })), 400, 'validation_failed', "id: 'beta' does not match the URL's 'alpha'")
  failed(t, await get(h, 'alpha'), 404, 'not_found', undefined)
  failed(t, await get(h, 'beta'), 404, 'not_found', undefined)
  failed(t, await put(h, 'Alpha', document()), 400, 'validation_failed', /^params\.id: /)
  t.same((await list(h)).json().systems, [], 'nothing stored')
})

t.test('documents may reference HUB_SECRET_* variables and nothing else', async t => {
  const h = await buildTestHub(t, { workers: false })
  const databaseUrl = h.databaseUrl
  setEnv(t, 'DATABASE_URL', databaseUrl)
  setEnv(t, 'HUB_SECRET_ALPHA_KEY', 'hub-secret-alpha-webhook-key-0123')
  setEnv(t, 'HUB_SECRET_ALPHA_TOKEN', 'hub-secret-alpha-token')

  const leak = await put(h, 'alpha', document({ name: '${DATABASE_URL}' }))
  failed(t, leak, 400, 'validation_failed', 'name: environment variable DATABASE_URL cannot be referenced: a document sent over the API may use only HUB_SECRET_* variables')
  t.notOk(leak.body.includes(databaseUrl), 'the value is not shown')
  failed(t, await put(h, 'alpha', document({ baseUrl: '${HUB_TEST_SERVER_URL}' })), 400, 'validation_failed', 'baseUrl: environment variable HUB_TEST_SERVER_URL cannot be referenced: a document sent over the API may use only HUB_SECRET_* variables')
  failed(t, await put(h, 'alpha', document({ auth: { kind: 'bearer', token: 'x${PATH}' } })), 400, 'validation_failed', 'auth.token: environment variable PATH cannot be referenced: a document sent over the API may use only HUB_SECRET_* variables')
  failed(t, await put(h, 'alpha', document({ auth: { kind: 'bearer', token: '${HUB_SECRET_NOT_SET}' } })), 400, 'validation_failed', 'auth.token: environment variable HUB_SECRET_NOT_SET is not set')
  failed(t, await get(h, 'alpha'), 404, 'not_found')

  const ok = await put(h, 'alpha', document({
    auth: { kind: 'bearer', token: '${HUB_SECRET_ALPHA_TOKEN}' },
    webhooks: { keys: ['${HUB_SECRET_ALPHA_KEY}'] }
  }))
  t.equal(ok.statusCode, 201, 'HUB_SECRET_* references are accepted')
  redacted(t, ok, ['hub-secret-alpha-webhook-key-0123', 'hub-secret-alpha-token'], 'the PUT answer', '"${HUB_SECRET_ALPHA_TOKEN}"')
  redacted(t, await get(h, 'alpha'), ['hub-secret-alpha-webhook-key-0123', 'hub-secret-alpha-token'], 'GET', '"${HUB_SECRET_ALPHA_KEY}"')

  // The substituted key is the one webhooks must present.
  const hook = await h.app.inject({ method: 'POST', url: '/v1/hooks/alpha', headers: { authorization: 'Bearer hub-secret-alpha-webhook-key-0123' }, payload: { scope: 'customer/update', id: '1' } })
  t.equal(hook.statusCode, 202, 'the variable was substituted')
  const literal = await h.app.inject({ method: 'POST', url: '/v1/hooks/alpha', headers: { authorization: 'Bearer ${HUB_SECRET_ALPHA_KEY}' }, payload: { scope: 'customer/update', id: '1' } })
  t.equal(literal.statusCode, 401, 'the reference itself is not a key')
})

t.test('a HUB_SECRET_* value is not shown when used outside the known secret fields', async t => {
  const h = await buildTestHub(t, { workers: false })
  const secret = 'hub-secret-query-api-key-value'
  setEnv(t, 'HUB_SECRET_QUERY_KEY', secret)
  const res = await put(h, 'alpha', document({ types: { customer: { get: { path: '/customers/{id}', query: { api_key: '${HUB_SECRET_QUERY_KEY}' } } } } }))
  t.equal(res.statusCode, 201)
  t.notOk(res.body.includes(secret), 'an API key in a query value is not in the PUT answer')
  t.notOk((await get(h, 'alpha')).body.includes(secret), 'nor in GET')
  t.notOk((await list(h)).body.includes(secret), 'nor in the list')

  // The same lets any write key read a HUB_SECRET_* back through a plain text field.
  const named = await put(h, 'beta', document({ name: '${HUB_SECRET_QUERY_KEY}' }))
  t.notOk(named.body.includes(secret), 'a secret put into the name is not echoed back')
})

t.test('DELETE removes a system; unknown ones are 404 (401 to its webhooks, as to a wrong key)', async t => {
  const h = await buildTestHub(t, { workers: false })
  t.equal((await put(h, 'alpha', document())).statusCode, 201)
  t.equal((await put(h, 'beta', document())).statusCode, 201)
  const removed = await del(h, 'alpha')
  t.equal(removed.statusCode, 204)
  t.equal(removed.body, '', 'no body')
  failed(t, await get(h, 'alpha'), 404, 'not_found', "no system 'alpha'")
  failed(t, await del(h, 'alpha'), 404, 'not_found', "no system 'alpha'")
  failed(t, await del(h, 'never-was'), 404, 'not_found', "no system 'never-was'")
  t.same((await list(h)).json().systems.map((s: { id: string }) => s.id), ['beta'], 'the other system stays')
  const hook = await h.app.inject({ method: 'POST', url: '/v1/hooks/alpha', headers: { authorization: `Bearer ${WEBHOOK_KEY}` }, payload: { scope: 'customer/update', id: '1' } })
  failed(t, hook, 401, 'unauthorized', 'invalid webhook key')
  t.same(await inboundData(h), [], 'nothing was enqueued')
})

t.test('admin key scopes: read cannot write or delete, no key is 401', async t => {
  const h = await buildTestHub(t, { workers: false })
  t.equal((await put(h, 'alpha', document())).statusCode, 201)
  const before = (await get(h, 'alpha')).body
  const newKey = async (name: string, scopes: string[]) => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/admin-keys', headers: h.auth, payload: { name, scopes } })
    t.equal(res.statusCode, 201)
    return { authorization: `Bearer ${res.json().key}` }
  }
  const reader = await newKey('reader', ['read'])
  const writer = await newKey('writer', ['read', 'write'])

  t.equal((await list(h, reader)).statusCode, 200, 'a read key lists')
  t.equal((await get(h, 'alpha', reader)).statusCode, 200, 'and reads')
  failed(t, await put(h, 'alpha', document({ name: 'changed' }), reader), 403, 'forbidden', "this key lacks the 'write' scope")
  failed(t, await put(h, 'gamma', document(), reader), 403, 'forbidden')
  failed(t, await del(h, 'alpha', reader), 403, 'forbidden', "this key lacks the 'delete' scope")
  failed(t, await del(h, 'alpha', writer), 403, 'forbidden', "this key lacks the 'delete' scope")

  // No key, a wrong key, and a webhook key (which is not an admin key).
  for (const headers of [{} as Record<string, string>, { authorization: 'Bearer not-an-admin-key' }, { authorization: `Bearer ${WEBHOOK_KEY}` }]) {
    failed(t, await list(h, headers), 401, 'unauthorized')
    failed(t, await get(h, 'alpha', headers), 401, 'unauthorized')
    failed(t, await put(h, 'alpha', document({ name: 'changed' }), headers), 401, 'unauthorized')
    failed(t, await del(h, 'alpha', headers), 401, 'unauthorized')
  }
  t.equal((await get(h, 'alpha')).body, before, 'the system is unchanged')
  failed(t, await get(h, 'gamma'), 404, 'not_found')

  const written = await put(h, 'alpha', document({ name: 'by the writer' }), writer)
  t.equal(written.statusCode, 200, 'a write key may replace')
  t.equal((await get(h, 'alpha', reader)).json().name, 'by the writer')
})

t.test('a system PUT over the API takes webhooks at once', async t => {
  const h = await buildTestHub(t, { workers: false })
  const hook = (id: string, key: string, body: unknown = { scope: 'customer/update', id: '17' }) =>
    h.app.inject({ method: 'POST', url: `/v1/hooks/${id}`, headers: { authorization: `Bearer ${key}` }, payload: body as object })

  failed(t, await hook('alpha', WEBHOOK_KEY), 401, 'unauthorized')
  t.equal((await put(h, 'alpha', document())).statusCode, 201)

  const res = await hook('alpha', WEBHOOK_KEY)
  t.equal(res.statusCode, 202)
  t.equal(res.json().accepted, 1)
  t.same(await inboundData(h), [{ system: 'alpha', type: 'customer', action: 'update', id: '17' }], 'one job for the new system')
  failed(t, await hook('alpha', 'not-the-alpha-webhook-key'), 401, 'unauthorized')
  failed(t, await hook('alpha', WEBHOOK_KEY, { scope: 'product/update', id: '1' }), 400, 'validation_failed', /accepted: customer\/create, customer\/update, customer\/delete$/)

  // A replaced system takes effect at once: new key, new flows.
  const newKey = 'alpha-webhook-key-rotated-987654'
  const replaced = await put(h, 'alpha', document({
    webhooks: { keys: [newKey] },
    types: { customer: { get: { path: '/customers/{id}' } }, product: { get: { path: '/products/{id}' } } },
    flows: [
      { type: 'customer', direction: 'inbound', actions: ['delete'] },
      { type: 'product', direction: 'inbound', mappings: [{ kind: 'field', from: 'sku', to: 'sku' }] }
    ]
  }))
  t.equal(replaced.statusCode, 200)
  failed(t, await hook('alpha', WEBHOOK_KEY), 401, 'unauthorized', 'invalid webhook key')
  failed(t, await hook('alpha', newKey), 400, 'validation_failed', /'customer\/update' is not a scope alpha may send/)
  const product = await hook('alpha', newKey, { scope: 'product/update', id: '3' })
  t.equal(product.statusCode, 202, 'the new flow is live')
  t.equal((await inboundData(h)).length, 2)

  t.equal((await del(h, 'alpha')).statusCode, 204)
  failed(t, await hook('alpha', newKey), 401, 'unauthorized', 'invalid webhook key')
  t.equal((await inboundData(h)).length, 2, 'nothing more was enqueued')
})

t.test('webhook keys are stored as digests, and still admit their senders', async t => {
  const h = await buildTestHub(t, { workers: false })
  t.equal((await put(h, 'alpha', document())).statusCode, 201)
  const { rows } = await h.hub.pool.query<{ document: string }>("SELECT document::text FROM hub.systems WHERE id = 'alpha'")
  t.notMatch(rows[0].document, WEBHOOK_KEY, 'the key itself is nowhere in the stored document')
  t.match(rows[0].document, /"keys": \["sha256:[0-9a-f]{64}"\]/, 'its digest is')
  const hook = await h.app.inject({ method: 'POST', url: '/v1/hooks/alpha', headers: { authorization: `Bearer ${WEBHOOK_KEY}` }, payload: { scope: 'customer/update', id: '1' } })
  t.equal(hook.statusCode, 202, 'the key admits webhooks')
  const again = await put(h, 'alpha', document({ webhooks: { keys: [`sha256:${createHash('sha256').update(WEBHOOK_KEY).digest('hex')}`] } }))
  t.equal(again.statusCode, 200, 'a document may carry the digest itself')
  const still = await h.app.inject({ method: 'POST', url: '/v1/hooks/alpha', headers: { authorization: `Bearer ${WEBHOOK_KEY}` }, payload: { scope: 'customer/update', id: '2' } })
  t.equal(still.statusCode, 202, 'and the key it stands for still works')
})

t.test('a document nested 10,000 deep is a 400, and the hub carries on', async t => {
  const h = await buildTestHub(t, { workers: false })
  const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)
  const res = await h.app.inject({ method: 'PUT', url: '/v1/systems/alpha', headers: { ...h.auth, 'content-type': 'application/json' }, payload: deep })
  failed(t, res, 400, 'bad_request', /nested deeper than 64 levels/)
  t.equal((await put(h, 'alpha', document())).statusCode, 201, 'the next request is served')
})
