import { readFile } from 'node:fs/promises'
import Fastify from 'fastify'
import t from 'tap'
import { version } from '../src/version.ts'
import { buildTestHub } from './helpers/hub.ts'

interface Operation {
  summary?: string
  parameters?: unknown[]
  security?: unknown[]
  requestBody?: { content?: Record<string, { schema?: unknown }> }
  responses: Record<string, { description?: string, content?: Record<string, { schema?: Record<string, unknown> }> }>
}

const envelope = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} }
    }
  }
}

// POSTs that act on their path alone: every other POST and PUT must document its body.
const withoutBody = new Set(['POST /v1/systems/{id}/poll/{type}', 'POST /v1/systems/{id}/initialize/{type}', 'POST /v1/errors/{id}/retry'])

/** Every string in the document that Swagger UI renders as Markdown. */
function * texts (value: unknown, key = ''): Generator<[string, string]> {
  if (typeof value === 'string' && (key === 'description' || key === 'summary')) yield [key, value]
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield * texts(v, k)
}

/** Where the document has an `anyOf`/`oneOf` with no branch: a schema no value satisfies. */
function * emptyUnions (value: unknown, at = ''): Generator<string> {
  if (!value || typeof value !== 'object') return
  for (const [k, v] of Object.entries(value)) {
    if ((k === 'anyOf' || k === 'oneOf') && Array.isArray(v) && v.length === 0) yield `${at}/${k}`
    else yield * emptyUnions(v, `${at}/${k}`)
  }
}

t.test('the API document describes every operation completely', async t => {
  const { app } = await buildTestHub(t, { workers: false })
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as { paths: Record<string, Record<string, Operation>> }

  const problems: string[] = []
  const operations: string[] = []
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (path !== '/' && path.endsWith('/')) problems.push(`${path}: trailing slash`)
    for (const [method, op] of Object.entries(methods)) {
      const name = `${method.toUpperCase()} ${path}`
      operations.push(name)
      if (!op.summary) problems.push(`${name}: no summary`)
      const statuses = Object.keys(op.responses)
      const ok = statuses.filter(s => s.startsWith('2'))
      if (!ok.length) problems.push(`${name}: no 2xx response`)
      for (const s of ok) {
        // JSON, or another documented type (GET /metrics answers Prometheus text).
        const schema = Object.values(op.responses[s].content ?? {})[0]?.schema
        if (s === '204' ? op.responses[s].content : !schema) problems.push(`${name}: ${s} ${s === '204' ? 'has a body' : 'has no schema'}`)
      }
      // An operation that takes nothing from the client cannot be the client's fault.
      const takesInput = Boolean(op.parameters?.length || op.requestBody || op.security?.length)
      const clientErrors = statuses.filter(s => s.startsWith('4'))
      if (takesInput && !clientErrors.length) problems.push(`${name}: no 4xx documented`)
      for (const s of clientErrors) {
        const schema = op.responses[s].content?.['application/json']?.schema
        if (!t.match(schema, envelope, `${name} ${s} answers the error envelope`)) problems.push(`${name}: ${s} is not the envelope`)
        if (!op.responses[s].description || op.responses[s].description === 'Default Response') problems.push(`${name}: ${s} says nothing`)
      }
      const hasBody = Object.keys(op.requestBody?.content ?? {}).length > 0
      if ((method === 'post' || method === 'put') && hasBody === withoutBody.has(name)) problems.push(`${name}: ${hasBody ? 'a body it does not take' : 'no request body'}`)
    }
  }
  problems.push(...[...emptyUnions(doc)].map(at => `${at}: an empty union (no value satisfies it)`))
  t.same(problems, [], 'nothing missing')
  // An operation that declares no query (src/http/strict-input.ts) lists none, and documents
  // the 400 that names one sent all the same.
  const overview = doc.paths['/v1/monitor/overview'].get
  t.same(overview.parameters ?? [], [], 'no parameters where the operation takes none')
  t.match(overview.responses['400'], { description: /invalid/ }, 'its 400 for an unknown key is documented')
  const routes = ['GET /health', 'GET /ready', 'POST /v1/hooks/{system}', 'GET /v1/systems', 'GET /v1/systems/{id}', 'PUT /v1/systems/{id}',
    'DELETE /v1/systems/{id}', 'GET /v1/records/{type}/{id}', 'GET /v1/records/{type}/by-link/{system}/{externalId}', 'GET /v1/errors', 'POST /v1/errors/{id}/retry', 'POST /v1/errors/retry', 'GET /v1/monitor/overview', 'GET /metrics', 'GET /v1/records/{type}/by-external-id/{externalId}',
    'POST /v1/sync', 'GET /v1/sync/{batchId}', 'GET /v1/jobs/{id}', 'GET /v1/admin-keys', 'POST /v1/admin-keys', 'DELETE /v1/admin-keys/{name}']
  t.same(routes.filter(r => !operations.includes(r)), [], 'every route is in the document')
  // The README's endpoint table names each operation as `GET /v1/sync/:batchId`.
  const table = (await readFile(new URL('../README.md', import.meta.url), 'utf8')).split('\n').filter(l => l.startsWith('| `'))
  const unlisted = operations.map(o => o.replace(/\{(\w+)\}/g, ':$1')).filter(o => !table.some(row => row.includes(`\`${o}\``)))
  t.same(unlisted, [], "every operation is in the README's endpoint table")

  const sync = doc.paths['/v1/sync'].post
  t.same(Object.keys(sync.requestBody?.content ?? {}).sort(), ['application/json', 'text/csv'], 'a sync takes JSON or a CSV')
  t.match(sync.requestBody?.content?.['application/json'].schema, { required: ['ids'] })
  t.ok(sync.responses['202'] && !sync.responses['200'], 'a sync answers 202')
  t.match(doc.paths['/v1/hooks/{system}'].post.requestBody?.content?.['application/json'].schema, { anyOf: [] }, 'the webhook body forms are described')

  // Swagger UI renders descriptions as Markdown: a bare <type> is an HTML tag and vanishes.
  for (const [key, text] of texts(doc)) {
    if (/<[a-z]/i.test(text.replace(/`[^`]*`/g, ''))) t.fail(`${key} has a bare <tag>: ${text}`)
  }
})

t.test('error answers carry the documented envelope through the response schemas', async t => {
  const { app, auth } = await buildTestHub(t, { workers: false })
  const missing = await app.inject({ url: '/v1/jobs/00000000-0000-4000-8000-000000000000', headers: auth })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: { code: 'not_found', message: 'no job 00000000-0000-4000-8000-000000000000' } })
  const invalid = await app.inject({ url: '/v1/errors?limit=0', headers: auth })
  t.equal(invalid.statusCode, 400)
  t.match(invalid.json(), { error: { code: 'validation_failed', message: /^querystring\.limit: /, details: [{ path: 'querystring.limit' }] } })
  const errors = await app.inject({ url: '/v1/errors', headers: auth })
  t.same(errors.json(), { errors: [], next: null })
})

t.test("the API document's version is the package's", async t => {
  const { hub } = await buildTestHub(t, { workers: false })
  // A version no hard-coded string can match: the app with another package version read.
  const { app } = await t.mockImport<typeof import('../src/app.ts')>('../src/app.ts', { '../src/version.ts': { version: '9.8.7-test' } })
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(app, { hub })
  const res = await fastify.inject({ url: '/docs/json' })
  t.equal((res.json() as { info: { version: string } }).info.version, '9.8.7-test')
  t.equal(version, JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')).version, 'the version read is package.json\'s')
})
