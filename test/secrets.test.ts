import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t from 'tap'
import { parseSystem } from '../src/config/load.ts'
import { secretsOf } from '../src/config/secrets.ts'
import { loggerOptions } from '../src/logger.ts'
import { dropSecrets, redactText, setSecrets } from '../src/redact.ts'
import { startHttpServer } from './helpers/http.ts'
import { buildTestHub } from './helpers/hub.ts'
import { waitFor } from './helpers/pipeline.ts'

t.test('redactText: known values in every form, URL credentials, credential-looking query values', async t => {
  const owner = {}
  setSecrets(owner, ['s3cr3t/value "x"', 'abc'])
  t.teardown(() => dropSecrets(owner))
  t.equal(redactText('token s3cr3t/value "x" echoed'), 'token [redacted] echoed', 'as written')
  t.equal(redactText('/t/s3cr3t%2Fvalue%20%22x%22/c'), '/t/[redacted]/c', 'URL-encoded')
  t.equal(redactText(JSON.stringify({ m: 'is s3cr3t/value "x"' })), '{"m":"is [redacted]"}', 'inside a JSON line')
  t.equal(redactText('abc'), 'abc', 'values under 4 characters are not searched for')
  t.equal(redactText('GET https://bob:pw@api.example.com/x failed'), 'GET https://api.example.com/x failed', 'userinfo dropped')
  t.equal(redactText('GET /c?access_token=t1&page=2&api_key=k2&X-Amz-Signature=s3&sig=s4&author=ann'),
    'GET /c?access_token=[redacted]&page=2&api_key=[redacted]&X-Amz-Signature=[redacted]&sig=[redacted]&author=ann')
})

t.test('secretsOf: every place a system config holds a secret', async t => {
  const parsed = parseSystem({
    id: 'crm',
    baseUrl: 'https://user:url-pass@crm.example.com/t/${HUB_SECRET_TENANT}?access_token=base-token&page=1',
    auth: { kind: 'header', name: 'X-Auth-Key', value: 'header-value' },
    webhooks: { keys: ['webhook-key-0123456789'], signingSecrets: ['whsec_' + Buffer.alloc(32, 1).toString('base64')] },
    types: { customer: { get: { path: '/c/{id}', query: { api_key: 'endpoint-key', email: '{email}', apikey: '{id}' } } } }
  }, { HUB_SECRET_TENANT: 'tenant-1', CRM_URL: 'not-a-secret' })
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  const found = secretsOf(parsed.system, { baseUrl: 'https://…/t/${HUB_SECRET_TENANT}', other: '${CRM_URL}', escaped: '$${CRM_TOKEN}' }, { HUB_SECRET_TENANT: 'tenant-1', CRM_URL: 'https://crm', CRM_TOKEN: 'tok' })
  t.same(found.sort(), ['webhook-key-0123456789', 'whsec_' + Buffer.alloc(32, 1).toString('base64'), Buffer.alloc(32, 1).toString('base64'),
    'header-value', 'url-pass', 'base-token', 'endpoint-key', 'tenant-1'].sort())
})

// The secrets of the pipeline test: each kind the config can hold, each unique and findable.
const tag = randomBytes(3).toString('hex')
const S = {
  header: `hdr-${tag}-value`,
  tenant: `tenant-${tag}-id`,
  urlPassword: `urlpass-${tag}`,
  queryToken: `qtok-${tag}`,
  endpointKey: `epkey-${tag}`,
  basicPassword: `basic-${tag}-pw`,
  webhookKey: `webhook-${tag}-0123456789`,
  signing: 'whsec_' + randomBytes(32).toString('base64')
}

t.test('no secret reaches errors, history, jobs, traces, batch status, systems or the log', async t => {
  const server = await startHttpServer(t, (req, res) => {
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    // A careless system: it echoes what it was sent, credentials included.
    const seen = `${req.method} ${req.url} key=${req.headers['x-auth-key'] ?? ''} auth=${Buffer.from(String(req.headers.authorization ?? '').slice(6), 'base64')}`
    if (req.method === 'GET') json(200, { id: '1', email: 'ada@example.com', seen })
    else json(422, { error: `rejected: ${seen}` })
  })
  const base = `http://alice:${S.urlPassword}@${server.url.slice('http://'.length)}/t/\${HUB_SECRET_TENANT}?access_token=${S.queryToken}`
  const config = {
    systems: [{
      id: 'src',
      baseUrl: base,
      allowPrivateNetwork: true,
      auth: { kind: 'header', name: 'X-Auth-Key', value: '${HUB_SECRET_HEADER}' },
      webhooks: { keys: [S.webhookKey], signingSecrets: [S.signing] },
      types: { customer: { get: { path: '/customers/{id}', query: { api_key: S.endpointKey } } } },
      flows: [{ type: 'customer', direction: 'inbound', mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }]
    }, {
      id: 'dest',
      baseUrl: base,
      allowPrivateNetwork: true,
      auth: { kind: 'basic', username: 'alice', password: S.basicPassword },
      types: { customer: { create: { path: '/customers' }, update: { path: '/customers/{id}' } } },
      flows: [{ type: 'customer', direction: 'outbound', actions: ['create', 'update'], mappings: [{ kind: 'field', from: 'email_address', to: 'email' }] }]
    }]
  }
  const dir = await mkdtemp(join(tmpdir(), 'hub-secrets-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'hub.json'), JSON.stringify(config))
  let logged = ''
  const log = pino(loggerOptions('debug'), { write: (line: string) => { logged += line } })
  const h = await buildTestHub(t, { log, env: { HUB_CONFIG: join(dir, 'hub.json') }, configEnv: { HUB_SECRET_HEADER: S.header, HUB_SECRET_TENANT: S.tenant } })

  const sync = await h.app.inject({ method: 'POST', url: '/v1/sync', headers: h.auth, payload: { system: 'src', scope: 'customer/update', ids: ['1'], debug: true } })
  t.equal(sync.statusCode, 202)
  const { batchId } = sync.json()
  const batch = await waitFor(async () => {
    const res = await h.app.inject({ url: `/v1/sync/${batchId}`, headers: h.auth })
    return res.json().finished ? res.body : ''
  }, 30_000, 'the batch to finish')

  // The secrets were in play: the server got every one of them, and echoed them back.
  const [fetch, create] = server.received
  t.equal(fetch.headers['x-auth-key'], S.header)
  t.equal(fetch.url, `/t/${S.tenant}/customers/1?api_key=${S.endpointKey}&access_token=${S.queryToken}`)
  t.equal(create.url, `/t/${S.tenant}/customers?access_token=${S.queryToken}`)
  t.equal(create.headers.authorization, 'Basic ' + Buffer.from(`alice:${S.basicPassword}`).toString('base64'))

  const get = async (url: string) => (await h.app.inject({ url, headers: h.auth })).body
  const errors = await get('/v1/errors')
  t.match(JSON.parse(errors).errors, [{ message: /^POST \/customers answered 422: rejected: POST \/t\/\[redacted\]\/customers\?access_token=\[redacted\] key= auth=alice:\[redacted\]$/ }],
    'the failure is logged, its message still says what happened')
  const record = await get('/v1/records/customer/by-link/src/1')
  t.match(JSON.parse(record).history, [{ systemId: 'src', outcome: 'created' }, { systemId: 'dest', outcome: 'failed', reason: /answered 422/ }])
  const status = JSON.parse(batch)
  t.equal(status.debugJobs.length, 1)
  const job = await get(`/v1/jobs/${status.debugJobs[0]}`)
  const shown = JSON.parse(job)
  t.match(shown.trace, [{ step: 'fetch', request: { url: /\/t\/\[redacted\]\/customers\/1\?api_key=\[redacted\]&access_token=\[redacted\]$/, headers: { 'x-auth-key': '[redacted]' } } }], 'the fetch is traced')
  t.match(shown.deliveries, [{ state: 'failed', output: { error: /answered 422/ }, trace: [{ step: 'map' }, { step: 'create', status: 422 }] }], 'and so is the failed delivery')
  const systems = await get('/v1/systems')
  t.match(JSON.parse(systems).systems, [{ id: 'dest', baseUrl: 'http://alice:***@' + server.url.slice('http://'.length) + '/t/${HUB_SECRET_TENANT}?access_token=***' }, { id: 'src' }])
  t.match(logged, /job failed/)
  t.match(logged, /debug trace/)

  const shownOut = { 'GET /v1/errors': errors, 'GET /v1/records': record, 'GET /v1/sync/:id': batch, 'GET /v1/jobs/:id': job, 'GET /v1/systems': systems, 'GET /v1/systems/src': await get('/v1/systems/src'), 'GET /v1/systems/dest': await get('/v1/systems/dest'), 'the log': logged }
  for (const [where, text] of Object.entries(shownOut)) {
    const leaked = Object.entries(S).filter(([, secret]) => text.includes(secret)).map(([name]) => name)
    t.same(leaked, [], `${where}: no secret`)
  }
})
