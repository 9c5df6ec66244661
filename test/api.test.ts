import t from 'tap'
import { buildTestHub } from './helpers/hub.ts'

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

t.test('every error uses one envelope', async t => {
  const { app, auth } = await buildTestHub(t, { workers: false })
  const missing = await app.inject({ url: '/v1/nothing-here' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: { code: 'not_found', message: 'no route GET /v1/nothing-here' } })

  const malformed = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"name": ' })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().error.code, 'invalid_json')

  const invalid = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: auth, payload: { name: 'ci', scopes: ['read', 'admin'] } })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().error.code, 'validation_failed')
  t.match(invalid.json().error.message, /^scopes\[1\]: /, 'the failing field is named')
  t.match(invalid.json().error.details, [{ path: 'scopes[1]' }])

  const plain = await app.inject({ method: 'POST', url: '/v1/admin-keys', headers: { ...auth, 'content-type': 'application/xml' }, payload: '<name>ci</name>' })
  t.equal(plain.statusCode, 415)
  t.match(plain.json(), { error: { code: 'unsupported_media_type', message: /send application\/json/ } }, 'the 415 says what to send')
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
