import t from 'tap'
import { ConnectorError, parseRetryAfter } from '../src/connectors/errors.ts'
import { callSystem, endpointPath } from '../src/connectors/http.ts'
import { pacer } from '../src/connectors/pace.ts'
import { parseSystem } from '../src/config/load.ts'
import type { SystemConfig } from '../src/config/systems.ts'
import { createPool } from '../src/db/pool.ts'
import { Trace } from '../src/trace.ts'
import { testDatabase } from './helpers/db.ts'
import { startHttpServer } from './helpers/http.ts'

function system (baseUrl: string, extra: Record<string, unknown> = {}): SystemConfig {
  const parsed = parseSystem({ id: 'dest', baseUrl, allowPrivateNetwork: true, auth: { kind: 'bearer', token: 'secret-token' }, ...extra }, {})
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  return parsed.system
}

t.test('a call carries the auth, keeps the base path, and parses JSON', async t => {
  const server = await startHttpServer(t, (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}') })
  const res = await callSystem(system(server.url + '/api/'), { method: 'GET', path: endpointPath({ path: '/customers/{id}', query: { expand: '{id}' } }, { id: 'a b' }), step: 'fetch' })
  t.same(res, { status: 200, body: { ok: true } })
  t.equal(server.received[0].url, '/api/customers/a%20b?expand=a+b')
  t.equal(server.received[0].headers.authorization, 'Bearer secret-token')
})

t.test('redirects are not followed; they fail permanently', async t => {
  const server = await startHttpServer(t, (_req, res) => { res.writeHead(302, { location: 'http://127.0.0.2:1/steal' }).end() })
  await t.rejects(callSystem(system(server.url), { method: 'GET', path: '/x', step: 'fetch' }), { constructor: ConnectorError, transient: false, status: 302, message: /redirects are not followed/ })
  t.equal(server.received.length, 1)
})

t.test('a response over the size cap fails permanently', async t => {
  const server = await startHttpServer(t, (_req, res) => { res.writeHead(200).end('x'.repeat(5_000)) })
  await t.rejects(callSystem(system(server.url, { maxResponseBytes: 1_024 }), { method: 'GET', path: '/x', step: 'fetch' }), { transient: false, message: 'response larger than 1024 bytes' })
})

t.test('statuses are classified, Retry-After is read, and traces are redacted', async t => {
  const statuses = [503, 429, 422, 404, 408]
  let n = 0
  const server = await startHttpServer(t, (_req, res) => {
    const status = statuses[n++]
    res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '7' } : {}) }).end(JSON.stringify({ error: `status ${status}` }))
  })
  const s = system(server.url)
  const outcomes = []
  const trace = new Trace()
  for (let i = 0; i < statuses.length; i++) {
    const err = await callSystem(s, { method: 'POST', path: '/x', body: { password: 'p4ss', name: 'n' }, step: 'create' }, trace).then(() => undefined, e => e as ConnectorError)
    outcomes.push([err?.status, err?.transient, err?.retryAfterMs])
  }
  t.same(outcomes, [[503, true, undefined], [429, true, 7000], [422, false, undefined], [404, false, undefined], [408, true, undefined]])
  t.match(trace.steps[0], { step: 'create', request: { headers: { authorization: '[redacted]' }, body: { password: '[redacted]', name: 'n' } }, status: 503 })
  t.notMatch(JSON.stringify(trace.steps), /secret-token|p4ss/)
})

t.test('a connection failure or a timeout is transient', async t => {
  const refused = await callSystem(system('http://127.0.0.1:1'), { method: 'GET', path: '/', step: 'fetch' }).catch(e => e as ConnectorError)
  t.match(refused, { transient: true, message: 'GET / failed to connect: ECONNREFUSED' }, 'naming the call')
  const server = await startHttpServer(t, () => { /* never answers */ })
  const slow = await callSystem(system(server.url, { timeoutMs: 200 }), { method: 'GET', path: '/', step: 'fetch' }).catch(e => e as ConnectorError)
  t.equal((slow as ConnectorError).transient, true)
  t.equal((slow as ConnectorError).message, 'GET / timed out after 200 ms', 'naming the call')
})

t.test('Retry-After as seconds or as a date', async t => {
  t.equal(parseRetryAfter('12'), 12_000)
  t.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1, 0, 0, 0)), 30_000)
  t.equal(parseRetryAfter('soon'), undefined)
})

t.test('perSecond hands out slots spaced 1/perSecond apart, shared through the database', async t => {
  const pool = createPool(await testDatabase(t), 4)
  t.teardown(() => pool.end())
  const pace = pacer(pool)
  const s = system('http://127.0.0.1:1', { throttle: { maxConcurrent: 4, perSecond: 20 } })
  const { rows: [{ before }] } = await pool.query('SELECT clock_timestamp() AS before')
  await Promise.all([pace(s), pace(s), pace(s), pace(s)])
  const { rows: [{ spread }] } = await pool.query("SELECT extract(epoch FROM next_at - $1::timestamptz)::float8 AS spread FROM hub.throttle WHERE system_id = 'dest'", [before])
  // Four calls took slots 0, 50, 100 and 150 ms out: the next free one is at least 200 ms on.
  t.ok(spread >= 0.2, `the four calls were spread over ${spread} s`)
  const unlimited = system('http://127.0.0.1:1')
  await pace(unlimited)
  t.equal((await pool.query("SELECT count(*)::int AS n FROM hub.throttle WHERE system_id = 'dest'")).rows[0].n, 1, 'no row for a system without perSecond')
})
