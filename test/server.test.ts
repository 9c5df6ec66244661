import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { exampleEnv, startSandbox } from '../sandbox/index.ts'
import { testDatabase } from './helpers/db.ts'
import { exampleConfig, waitFor } from './helpers/pipeline.ts'
import { runHubExpectingExit, startHubProcess } from './helpers/process.ts'

t.test('an invalid environment stops the process with one line naming the variable', async t => {
  const { code, stderr } = await runHubExpectingExit({ HUB_ROLE: 'everything' })
  t.not(code, 0)
  t.equal(stderr.trim().split('\n').length, 1, 'exactly one line')
  t.match(stderr, /^invalid environment variable HUB_ROLE: /)
})

t.test('the embedded default: ready, generated admin key, data kept across restarts', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'hub-data-'))
  const first = await startHubProcess(t, { HUB_DATA_DIR: dataDir })
  const ready = await fetch(first.url + '/ready')
  t.equal(ready.status, 200)
  t.match(first.stdout(), /DATABASE_URL is not set: using the embedded PostgreSQL/)
  // The line says where psql finds the database: its URL without the password, and the password's file.
  const line = JSON.parse(first.stdout().split('\n').find(l => l.includes('using the embedded PostgreSQL'))!)
  t.match(line.url, /^postgres:\/\/hub:\*\*\*@127\.0\.0\.1:\d+\/postgres$/, 'the URL, password masked')
  const database = new URL(line.url)
  database.password = (await readFile(line.passwordFile, 'utf8')).trim()
  const psql = new pg.Client(database.href)
  await psql.connect()
  t.ok((await psql.query('SELECT count(*)::int AS n FROM hub.migrations')).rows[0].n > 0, 'which it connects to with the password from the file')
  await psql.end()
  const key = (await readFile(join(dataDir, 'admin-key'), 'utf8')).trim()
  t.match(first.stderr(), key, 'the generated key is shown once')
  t.notMatch(first.stdout(), key, 'and never logged')
  const created = await fetch(first.url + '/v1/admin-keys', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'kept', scopes: ['read'] })
  })
  t.equal(created.status, 201)
  t.equal(await first.stop(), 0, 'SIGTERM shuts down cleanly')

  const second = await startHubProcess(t, { HUB_DATA_DIR: dataDir })
  t.notMatch(second.stderr(), /Generated an admin API key/, 'no second key is generated')
  const listed = await fetch(second.url + '/v1/admin-keys', { headers: { authorization: `Bearer ${key}` } })
  t.equal(listed.status, 200)
  t.same((await listed.json()).keys.map((k: { name: string }) => k.name), ['bootstrap', 'kept'], 'data survived the restart')
  t.equal(await second.stop(), 0)

  // HUB_ADMIN_KEY takes the bootstrap key's place: said when it does, not again.
  const fromEnv = { HUB_DATA_DIR: dataDir, HUB_ADMIN_KEY: 'a-key-set-in-the-environment' }
  const third = await startHubProcess(t, fromEnv)
  t.match(third.stdout(), /HUB_ADMIN_KEY replaces the 'bootstrap' admin key/)
  t.equal((await fetch(third.url + '/v1/admin-keys', { headers: { authorization: `Bearer ${key}` } })).status, 401, 'the generated key is no longer accepted')
  t.notOk(existsSync(join(dataDir, 'admin-key')), 'and its file, which would offer a refused key, is removed')
  t.equal(await third.stop(), 0)
  const fourth = await startHubProcess(t, fromEnv)
  t.notMatch(fourth.stdout(), /replaces/, 'the same key again replaces nothing')
  t.equal(await fourth.stop(), 0)
})

t.test('with DATABASE_URL set no embedded cluster is created', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'hub-data-'))
  const hub = await startHubProcess(t, { HUB_DATA_DIR: dataDir, DATABASE_URL: await testDatabase(t), HUB_ADMIN_KEY: 'an-admin-key-for-tests' })
  t.equal((await fetch(hub.url + '/ready')).status, 200)
  t.same(await readdir(dataDir), [], 'the data directory is untouched')
  t.notMatch(hub.stdout(), /embedded/)
  t.equal(await hub.stop(), 0)
})

t.test('api and worker roles run as two processes against one database', async t => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const databaseUrl = await testDatabase(t)
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    HUB_ADMIN_KEY: 'an-admin-key-for-tests',
    HUB_CONFIG: exampleConfig,
    ...exampleEnv(sandbox)
  }
  const [api, worker] = await Promise.all([
    startHubProcess(t, { ...env, HUB_ROLE: 'api' }),
    startHubProcess(t, { ...env, HUB_ROLE: 'worker' })
  ])
  t.equal((await fetch(api.url + '/ready')).status, 200)
  t.equal((await fetch(worker.url + '/ready')).status, 200)
  const auth = { authorization: 'Bearer an-admin-key-for-tests' }
  t.equal((await fetch(api.url + '/v1/admin-keys', { headers: auth })).status, 200, 'the api serves the API')
  t.equal((await fetch(worker.url + '/v1/admin-keys', { headers: auth })).status, 404, 'the worker serves only health')

  sandbox.shop.emitTo({ url: api.url + '/v1/hooks/shop', key: env.SHOP_WEBHOOK_KEY })
  sandbox.shop.put('customer', { email: 'grace@example.com', first_name: 'Grace', last_name: 'Hopper' })
  await sandbox.shop.flushWebhooks()
  await waitFor(() => sandbox.crm.all('customer').length === 1, 20_000, 'the worker to deliver to the CRM')
  t.match(sandbox.crm.all('customer')[0], { email: 'grace@example.com', firstName: 'Grace' }, 'accepted by the api, delivered by the worker')
  t.equal(await api.stop(), 0)
  t.equal(await worker.stop(), 0)
})

t.test('a bad systems config file stops the process with the path of the mistake', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-config-'))
  const file = join(dir, 'hub.config.yaml')
  await writeFile(file, [
    'systems:',
    '  - id: shop',
    '    baseUrl: http://127.0.0.1:1',
    '    allowPrivateNetwork: true',
    '    types:',
    '      customer:',
    '        get: {}',
    '    flows: []'
  ].join('\n'))
  const { code, stderr } = await runHubExpectingExit({ DATABASE_URL: await testDatabase(t), HUB_CONFIG: file, HUB_ADMIN_KEY: 'an-admin-key-for-tests' })
  t.equal(code, 2)
  t.match(stderr, `${file}: systems[0].types.customer.get.path: required`)
  t.notMatch(stderr, /at .*\.ts:\d+/, 'no stack trace')
})
