import { connect } from 'node:net'
import Fastify from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import t from 'tap'
import { z } from 'zod'
import { strictInput } from '../src/http/strict-input.ts'
import { buildTestHub } from './helpers/hub.ts'
import { inboundJobs, startPipeline, waitFor } from './helpers/pipeline.ts'

t.test('health, readiness and the API document', async t => {
  const { app } = await buildTestHub(t, { workers: false })
  const health = await app.inject({ url: '/health' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  const ready = await app.inject({ url: '/ready' })
  t.equal(ready.statusCode, 200)
  const doc = await app.inject({ url: '/docs/json' })
  t.equal(doc.statusCode, 200)
  t.ok(doc.json().paths['/v1/admin-keys'], 'routes are described from their zod schemas')
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
})

t.test('/ready answers 503 once the hub has closed its database', async t => {
  const { app, hub } = await buildTestHub(t, { workers: false })
  await hub.close()
  const ready = await app.inject({ url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'unavailable' })
})

t.test('a hub shutting down answers its in-flight webhook and refuses the next one on that connection with 503 and Retry-After', async t => {
  const p = await startPipeline(t, { workers: false })
  const { port } = new URL(p.url)
  // Hold the webhook's commit, so that its request is in flight while the hub starts closing.
  const lock = await p.hub.pool.connect()
  t.teardown(() => lock.release())
  await lock.query('BEGIN')
  await lock.query('LOCK TABLE hub.hook_backlog IN EXCLUSIVE MODE')
  const request = (id: string) => {
    const body = JSON.stringify({ scope: 'customer/update', id })
    return `POST /v1/hooks/shop HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${p.configEnv.SHOP_WEBHOOK_KEY}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  }
  const socket = connect(Number(port), '127.0.0.1')
  let received = ''
  socket.setEncoding('utf8').on('data', chunk => { received += chunk })
  const ended = new Promise(resolve => socket.on('close', resolve))
  socket.write(request('c-1'))
  await waitFor(async () => (await p.hub.pool.query("SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'hub.hook_backlog'::regclass")).rowCount! > 0, 5_000, 'the webhook to wait on its commit')

  const closed = p.app.close()
  await waitFor(() => !p.app.server.listening, 5_000, 'the server to stop listening')
  // The connection is busy, so it stays open: the next request on it reaches the closing hub.
  socket.write(request('c-2'))
  await new Promise(resolve => setTimeout(resolve, 100))
  await lock.query('COMMIT')
  await ended
  await closed

  const responses = received.split(/(?=HTTP\/1\.1 )/)
  t.equal(responses.length, 2, 'two answers on the connection')
  t.match(responses[0], /^HTTP\/1\.1 202 /, 'the webhook in flight is answered')
  t.match(responses[1], /^HTTP\/1\.1 503 /, 'the next is refused')
  t.match(responses[1], /\r\nretry-after: 5\r\n/i, 'with Retry-After')
  t.match(responses[1], /\r\nconnection: close\r\n/i, 'and the connection closed')
  t.same(JSON.parse(responses[1].split('\r\n\r\n')[1]), { error: { code: 'unavailable', message: 'the hub is shutting down; retry later' } }, 'in the error envelope')
  t.same((await inboundJobs(p.hub)).map(j => j.data.id), ['c-1'], 'the refused webhook was not accepted')
})

t.test('every error uses one envelope', async t => {
  const { app, auth } = await buildTestHub(t, { workers: false })
  const missing = await app.inject({ url: '/v1/nothing-here' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: { code: 'not_found', message: 'no route GET /v1/nothing-here' } })

  const malformed = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"name": ' })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().error.code, 'invalid_json')
  // Well-formed, with a key Fastify's parser refuses: the message names that cause too.
  for (const payload of ['{"name": ', '{"name": "ci", "__proto__": {"x": 1}}', '{"name": "ci", "constructor": {"prototype": {}}}']) {
    const proto = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: { ...auth, 'content-type': 'application/json' }, payload })
    t.equal(proto.statusCode, 400)
    t.match(proto.json().error, { code: 'invalid_json', message: /not valid JSON, or has a "__proto__" key/ })
  }

  const invalid = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: auth, payload: { name: 'ci', scopes: ['read', 'admin'] } })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().error.code, 'validation_failed')
  t.match(invalid.json().error.message, /^scopes\[1\]: /, 'the failing field is named')
  t.match(invalid.json().error.details, [{ path: 'scopes[1]' }])

  const plain = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: { ...auth, 'content-type': 'application/xml' }, payload: '<name>ci</name>' })
  t.equal(plain.statusCode, 415)
  t.match(plain.json(), { error: { code: 'unsupported_media_type', message: /send application\/json/ } }, 'the 415 says what to send')

  // A misspelt query parameter or body key is named, never ignored (which would list every error).
  const misspelt = await app.inject({ url: '/v1/errors?sytem=shop', headers: auth })
  t.equal(misspelt.statusCode, 400)
  t.same(misspelt.json().error.details, [{ path: 'querystring.sytem', message: 'unknown key' }])
  const wrongType = await app.inject({ url: '/v1/errors?type=widget', headers: auth })
  t.equal(wrongType.statusCode, 400)
  t.match(wrongType.json().error.message, /^querystring\.type: /)
  const noBody = await app.inject({ method: 'POST', url: '/v1/errors/retry', headers: auth })
  t.equal(noBody.statusCode, 400)
  t.equal(noBody.json().error.message, 'body: required: send a JSON object (its fields are in the API document)', 'a missing body is named, not "(root): expected object, received null"')
  const retryKey = await app.inject({ method: 'POST', url: '/v1/errors/retry', headers: auth, payload: { sytem: 'shop' } })
  t.equal(retryKey.statusCode, 400)
  t.equal(retryKey.json().error.message, 'sytem: unknown key')

  // The router's own refusals, met before any route: an id of 255 characters (Fastify's limit
  // was 100) is looked up; a longer segment, and a broken %-escape, are refused in the envelope.
  const longId = await app.inject({ url: `/v1/records/product/by-link/shop/${encodeURIComponent('é'.repeat(255))}`, headers: auth })
  t.equal(longId.statusCode, 404, 'a 255-character id reaches its route')
  t.equal(longId.json().error.code, 'not_found')
  const tooLong = await app.inject({ url: `/v1/records/product/by-link/shop/${'q'.repeat(3000)}`, headers: auth })
  t.equal(tooLong.statusCode, 414)
  t.same(tooLong.json(), { error: { code: 'uri_too_long', message: 'a path segment is longer than the API takes (2295 characters)' } })
  const badEscape = await app.inject({ url: '/v1/records/product/by-link/shop/%zz', headers: auth })
  t.equal(badEscape.statusCode, 400)
  t.match(badEscape.json(), { error: { code: 'bad_request', message: /%zz/ } })
})

t.test('an operation that declares no query or body refuses every key, as the strict ones do', async t => {
  const { app, auth } = await buildTestHub(t, { workers: false })
  const uuid = '00000000-0000-4000-8000-000000000000'
  const unknown = (key: string, where = 'querystring.') => ({
    error: { code: 'validation_failed', message: `${where}${key}: unknown key`, details: [{ path: `${where}${key}`, message: 'unknown key' }] }
  })
  // One of each family: the query is checked after the path, before the key and the handler.
  for (const url of ['/v1/monitor/overview', '/v1/systems', '/v1/systems/shop', '/v1/systems/shop/poll', '/v1/admin-keys',
    `/v1/sync/${uuid}`, `/v1/imports/${uuid}`, `/v1/jobs/${uuid}`, '/metrics', '/v1/records/customer/by-external-id/1',
    `/v1/records/customer/${uuid}`, '/v1/records/customer/by-link/shop/1']) {
    const res = await app.inject({ url: `${url}?x=1`, headers: auth })
    t.equal(res.statusCode, 400, `GET ${url}?x=1`)
    t.same(res.json(), unknown('x'), `GET ${url}?x=1 names querystring.x`)
  }
  for (const [method, url] of [['POST', `/v1/errors/3/retry`], ['DELETE', '/v1/admin-keys/nobody'], ['POST', '/v1/systems/shop/poll/customer'],
    ['DELETE', `/v1/imports/${uuid}`]] as const) {
    t.same((await app.inject({ method, url: `${url}?x=1`, headers: auth })).json(), unknown('x'), `${method} ${url}?x=1`)
  }
  // Without it, the same requests reach their routes.
  t.equal((await app.inject({ url: '/v1/monitor/overview', headers: auth })).statusCode, 200)
  t.equal((await app.inject({ url: '/v1/records/customer/by-external-id/1', headers: auth })).statusCode, 200)
  t.equal((await app.inject({ url: '/metrics', headers: auth })).statusCode, 200)
  t.equal((await app.inject({ url: `/v1/jobs/${uuid}`, headers: auth })).statusCode, 404)
  // A known parameter still works where there are some; a misspelt one beside it is still named.
  t.equal((await app.inject({ url: '/v1/imports?limit=5', headers: auth })).statusCode, 200)
  t.same((await app.inject({ url: '/v1/imports?limit=5&limt=5', headers: auth })).json(), unknown('limt'))
  // The probes take none, and ignore a monitor's cache-buster rather than fail on it.
  t.equal((await app.inject({ url: '/health?_=1700000000' })).statusCode, 200)
  t.equal((await app.inject({ url: '/ready?_=1700000000' })).statusCode, 200)
  // A webhook's sender may add parameters of its own: the change is taken all the same.
  const hook = await app.inject({ method: 'POST', url: '/v1/hooks/shop?topic=customers', headers: { authorization: 'Bearer nope' }, payload: { scope: 'customer/update', id: '1' } })
  t.equal(hook.statusCode, 401, 'checked as any webhook, not refused for its query')

  // A body key an operation does not take is named as on those that take a body.
  const retry = await app.inject({ method: 'POST', url: '/v1/errors/3/retry', headers: auth, payload: { x: 1 } })
  t.equal(retry.statusCode, 400)
  t.same(retry.json(), unknown('x', ''), 'not a 202 that ignores it')
  for (const payload of [undefined, {}]) {
    const res = await app.inject({ method: 'POST', url: '/v1/errors/3/retry', headers: auth, payload })
    t.same(res.json(), { error: { code: 'not_found', message: 'no error 3' } }, `no body, or ${JSON.stringify(payload)}, reaches the route`)
  }
  const array = await app.inject({ method: 'POST', url: '/v1/errors/3/retry', headers: auth, payload: [1] })
  t.equal(array.json().error.message, '(root): this operation takes no body')
  t.same((await app.inject({ method: 'DELETE', url: '/v1/admin-keys/nobody', headers: auth, payload: { force: true } })).json(), unknown('force', ''))
  const key = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: auth, payload: { name: 'ci', scopes: ['read'], expires: '2030-01-01' } })
  t.same(key.json(), unknown('expires', ''), 'a key is not created without what was asked of it')
})

t.test('a querystring or body declared as z.object, which drops unknown keys, stops the start', async t => {
  for (const schema of [{ querystring: z.object({ a: z.string() }) }, { body: z.object({ a: z.string() }) }]) {
    const fastify = Fastify()
    t.teardown(() => fastify.close())
    fastify.setValidatorCompiler(validatorCompiler)
    await fastify.register(strictInput)
    await t.rejects(async () => {
      fastify.post('/x', { schema }, async () => ({}))
      await fastify.ready()
    }, { message: `POST /x: its ${Object.keys(schema)[0]} schema is a z.object, which drops unknown keys; make it z.strictObject` })
  }
})

t.test('admin keys: 401 without or with a wrong key, 403 without the scope', async t => {
  const { app, auth, hub } = await buildTestHub(t, { workers: false })
  const none = await app.inject({ url: '/v1/admin-keys' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().error.code, 'unauthorized')
  const wrong = await app.inject({ url: '/v1/admin-keys', headers: { authorization: 'Bearer not-a-key' } })
  t.equal(wrong.statusCode, 401)

  const created = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: auth, payload: { name: 'reader', scopes: ['read'] } })
  t.equal(created.statusCode, 201)
  const readerKey = created.json().key as string
  t.match(readerKey, /^hub_/)
  const reader = { authorization: `Bearer ${readerKey}` }

  const listed = await app.inject({ url: '/v1/admin-keys', headers: reader })
  t.equal(listed.statusCode, 200)
  t.same(listed.json().keys.map((k: { name: string }) => k.name), ['bootstrap', 'reader'])
  t.notMatch(listed.body, readerKey, 'keys are never returned after creation')
  // A key's last use is recorded to the minute, not written on every request.
  const lastUse = async () => (await app.inject({ url: '/v1/admin-keys', headers: auth })).json().keys.find((k: { name: string }) => k.name === 'reader').lastUsedAt
  const first = await lastUse()
  t.ok(first, 'recorded at its first use')
  await app.inject({ url: '/v1/admin-keys', headers: reader })
  t.equal(await lastUse(), first, 'not moved again within the minute')
  await hub.pool.query("UPDATE hub.admin_keys SET last_used_at = now() - interval '2 minutes' WHERE name = 'reader'")
  await app.inject({ url: '/v1/admin-keys', headers: reader })
  t.ok(Date.parse(await lastUse()) > Date.now() - 60_000, 'moved once the recorded use is over a minute old')

  const denied = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: reader, payload: { name: 'x', scopes: ['read'] } })
  t.equal(denied.statusCode, 403)
  t.same(denied.json(), { error: { code: 'forbidden', message: "this key lacks the 'write' scope" } })

  const duplicate = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: auth, payload: { name: 'reader', scopes: ['read'] } })
  t.equal(duplicate.statusCode, 409)

  const revoked = await app.inject({ method: 'DELETE', url: '/v1/admin-keys/reader', headers: auth })
  t.equal(revoked.statusCode, 204)
  const after = await app.inject({ url: '/v1/admin-keys', headers: reader })
  t.equal(after.statusCode, 401, 'a revoked key no longer works')
})

t.test('a key grants only the scopes it holds, and the last key with every scope stays', async t => {
  const { app, auth } = await buildTestHub(t, { workers: false })
  const create = (headers: Record<string, string>, name: string, scopes: string[]) =>
    app.inject({ method: 'POST', url: '/v1/admin-keys', headers, payload: { name, scopes } })
  const writer = await create(auth, 'writer', ['read', 'write'])
  t.equal(writer.statusCode, 201)
  const asWriter = { authorization: `Bearer ${writer.json().key}` }
  const escalate = await create(asWriter, 'root2', ['read', 'write', 'delete'])
  t.equal(escalate.statusCode, 403, 'a write key cannot mint a delete key')
  t.match(escalate.json().error.message, /cannot grant 'delete'/)
  t.equal((await create(asWriter, 'reader', ['read'])).statusCode, 201, 'it may grant what it holds')

  const deleter = await create(auth, 'deleter', ['delete'])
  const asDeleter = { authorization: `Bearer ${deleter.json().key}` }
  const last = await app.inject({ method: 'DELETE', url: '/v1/admin-keys/bootstrap', headers: asDeleter })
  t.equal(last.statusCode, 409, 'the last all-scope key cannot be revoked')
  t.match(last.json().error.message, /last key with every scope/)
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/admin-keys/writer', headers: asDeleter })).statusCode, 204, 'other keys can')
  t.equal((await create(auth, 'root2', ['read', 'write', 'delete'])).statusCode, 201)
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/admin-keys/bootstrap', headers: asDeleter })).statusCode, 204, 'with another full key it can go')
  const nul = await app.inject({ method: 'DELETE', url: '/v1/admin-keys/a%00b', headers: asDeleter })
  t.equal(nul.statusCode, 400, 'a NUL in a key name is a 400, not a 500')
})
