import t from 'tap'
import { parseSystem } from '../src/config/load.ts'
import type { SystemConfig } from '../src/config/systems.ts'
import { urlRule } from '../src/connectors/address-guard.ts'
import { ConnectorError } from '../src/connectors/errors.ts'
import { callSystem, endpointPath } from '../src/connectors/http.ts'
import { startHttpServer } from './helpers/http.ts'
import { buildTestHub } from './helpers/hub.ts'
import { settled } from './helpers/pipeline.ts'

const customerFlow = {
  types: { customer: { get: { path: '/customers/{id}' } } },
  flows: [{ type: 'customer', direction: 'inbound', mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }]
}

function system (doc: Record<string, unknown>): SystemConfig {
  const parsed = parseSystem({ id: 'crm', ...doc }, {})
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  return parsed.system
}
const errorsOf = (doc: Record<string, unknown>) => {
  const parsed = parseSystem({ id: 'crm', ...doc }, {})
  return parsed.ok ? [] : parsed.errors
}

t.test('every spelling of an inward address is refused, public ones are not', async t => {
  const refused: Array<[string, string]> = [
    ['http://169.254.169.254/latest/meta-data', 'cloud metadata service'],
    ['http://[fd00:ec2::254]/', 'cloud metadata service'],
    ['http://[::ffff:169.254.169.254]/', 'cloud metadata service'],
    ['http://metadata.google.internal/', 'cloud metadata service'],
    ['http://127.0.0.1/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://0177.0.0.1/', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::127.0.0.1]/', 'loopback'],
    ['http://[64:ff9b::127.0.0.1]/', 'loopback'],
    ['http://[2002:7f00:1::]/', 'loopback'],
    ['http://10.0.0.5/', 'private network'],
    ['http://172.16.0.1/', 'private network'],
    ['http://172.31.255.255/', 'private network'],
    ['http://192.168.1.1/', 'private network'],
    ['http://[fd00::1]/', 'private network'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://169.254.1.1/', 'link-local'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://100.127.255.255/', 'carrier-grade NAT'],
    ['http://0.0.0.0/', 'unspecified address'],
    ['http://[::]/', 'unspecified address'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://240.0.0.1/', 'reserved range (reserved)']
  ]
  for (const [url, rule] of refused) t.equal(urlRule(url), rule, url)
  for (const url of ['http://8.8.8.8/', 'http://172.32.0.1/', 'http://100.128.0.1/', 'http://[2606:4700::1111]/', 'http://[64:ff9b::8.8.8.8]/', 'https://crm.example.com/']) {
    t.equal(urlRule(url), undefined, `${url} is allowed`)
  }
})

t.test('a literal inward address in a base URL fails at config load unless the system opts in', async t => {
  t.same(errorsOf({ baseUrl: 'http://10.0.0.5/api' }), ['baseUrl: refusing to call 10.0.0.5 (private network); set allowPrivateNetwork: true on the system to allow it'])
  t.same(errorsOf({ baseUrl: 'http://0x7f000001:8080' }), ['baseUrl: refusing to call 127.0.0.1 (loopback); set allowPrivateNetwork: true on the system to allow it'])
  t.same(errorsOf({ baseUrl: 'http://10.0.0.5/api', allowPrivateNetwork: true }), [])
  t.equal(system({ baseUrl: 'https://crm.example.com' }).allowPrivateNetwork, false, 'off by default')
})

t.test('maxResponseBytes is bounded at 64 MB', async t => {
  const base = { baseUrl: 'https://crm.example.com' }
  t.same(errorsOf({ ...base, maxResponseBytes: 64 * 1024 * 1024 + 1 }), ['maxResponseBytes: must be at most 67108864 (64 MB)'])
  t.equal(system({ ...base, maxResponseBytes: 64 * 1024 * 1024 }).maxResponseBytes, 64 * 1024 * 1024)
})

t.test('a name is judged by what it resolves to; a refused call sends nothing and is permanent', async t => {
  const server = await startHttpServer(t)
  const url = server.url.replace('127.0.0.1', 'localhost')
  const err = await callSystem(system({ baseUrl: url }), { method: 'GET', path: '/customers/1', step: 'fetch' }).catch(e => e)
  t.type(err, ConnectorError)
  t.equal(err.transient, false)
  t.match(err.message, /^crm: refusing to call localhost \((127\.0\.0\.1|::1)\) \(loopback\); set allowPrivateNetwork: true on the system to allow it$/)
  // A system parsed with the opt-in and then without it: the literal is refused when connecting too.
  const literal = await callSystem({ ...system({ baseUrl: server.url, allowPrivateNetwork: true }), allowPrivateNetwork: false }, { method: 'GET', path: '/', step: 'fetch' }).catch(e => e)
  t.match(literal, { transient: false, message: /^crm: refusing to call 127\.0\.0\.1 \(loopback\)/ })
  t.equal(server.received.length, 0, 'no request reached the server')

  const allowed = await callSystem(system({ baseUrl: url, allowPrivateNetwork: true }), { method: 'GET', path: '/customers/1', step: 'fetch' })
  t.equal(allowed.status, 200, 'with the opt-in the same call goes through')
  t.equal(server.received.length, 1)
})

t.test('ids made of dots stay path segments: the server sees /customers/%2E%2E, never /', async t => {
  const server = await startHttpServer(t)
  const s = system({ baseUrl: server.url + '/api', allowPrivateNetwork: true })
  for (const id of ['..', '.', 'a..b', '../admin']) {
    await callSystem(s, { method: 'GET', path: endpointPath({ path: '/customers/{id}', query: { v: '{id}' } }, { id }), step: 'fetch' })
  }
  t.same(server.received.map(r => r.url), [
    '/api/customers/%2E%2E?v=..',
    '/api/customers/%2E?v=.',
    '/api/customers/a..b?v=a..b',
    '/api/customers/..%2Fadmin?v=..%2Fadmin'
  ])
})

t.test('a base URL keeps its own query; the endpoint query comes first', async t => {
  const server = await startHttpServer(t)
  const s = system({ baseUrl: server.url + '/api?tenant=7', allowPrivateNetwork: true })
  await callSystem(s, { method: 'GET', path: endpointPath({ path: '/customers', query: { email: '{email}' } }, { email: 'a@b.c' }), step: 'lookup' })
  await callSystem(s, { method: 'GET', path: '/customers/1', step: 'fetch' })
  t.same(server.received.map(r => r.url), ['/api/customers?email=a%40b.c&tenant=7', '/api/customers/1?tenant=7'])
})

t.test('through the pipeline: a refused fetch lands in the error log and nothing is sent', async t => {
  const server = await startHttpServer(t)
  const h = await buildTestHub(t)
  const put = await h.app.inject({ method: 'PUT', url: '/v1/systems/shop', headers: h.auth, payload: { baseUrl: server.url.replace('127.0.0.1', 'localhost'), ...customerFlow } })
  t.equal(put.statusCode, 201, 'a name passes config load')
  const sync = await h.app.inject({ method: 'POST', url: '/v1/sync', headers: h.auth, payload: { system: 'shop', scope: 'customer/update', ids: ['1'] } })
  t.equal(sync.statusCode, 202)
  await settled(h.hub)
  const { errors } = (await h.app.inject({ url: '/v1/errors', headers: h.auth })).json()
  t.match(errors, [{ externalId: '1', httpStatus: null, message: /^shop: refusing to call localhost \(.+\) \(loopback\); set allowPrivateNetwork: true on the system to allow it$/ }])
  t.equal(errors.length, 1, 'failed once, not retried')
  t.equal(server.received.length, 0, 'nothing was sent')
})
