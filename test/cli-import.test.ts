import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t from 'tap'
import { hub } from './helpers/cli.ts'
import { ADMIN_KEY, buildTestHub } from './helpers/hub.ts'
import { loggerOptions } from '../src/logger.ts'
import { importSummary } from '../src/cli/output.ts'
import type { ImportView } from '../src/imports/store.ts'

// `hub import`: uploads a CSV, follows the import with a bar until it is finished, prints the
// counts and the failing rows, and exits 1 when a row failed.

t.test('hub import reports counts and row errors', async t => {
  const h = await buildTestHub(t, { listen: true, env: { HUB_MAX_EVENT_LOOP_DELAY_MS: '0' } })
  const dir = await mkdtemp(join(tmpdir(), 'hub-cli-import-'))
  const file = join(dir, 'customers.csv')
  await writeFile(file, 'email_address,first_name\na@example.com,A\nnot-an-email,B\nc@example.com,C\n')
  const env = { HUB_URL: h.url, HUB_ADMIN_KEY: ADMIN_KEY }
  const run = await hub(['import', file, '--type', 'customer'], env)
  t.equal(run.code, 1, run.stderr)
  t.match(run.stdout, /: finished, 3 rows: 2 written, 0 unchanged, 1 with errors\n {2}row 3 email_address: /)
  t.match(run.stderr, /importing/)
  t.equal((await h.hub.pool.query('SELECT count(*)::int AS n FROM hub.records')).rows[0].n, 2)
  // The same file again: its records exist and are left alone.
  t.match((await hub(['import', file, '--type', 'customer'], env)).stdout, /: finished, 3 rows: 0 written, 2 unchanged, 1 with errors\n/)

  const bad = await hub(['import', file, '--type', 'widget'], env)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /hub: the hub answered 400: --type: /)
  // Every problem of a 400 is printed, not just the first: here the delimiter's hint.
  await writeFile(file, 'email_address;first_name\na@example.com;A\n')
  const semicolons = await hub(['import', file, '--type', 'customer'], env)
  t.equal(semicolons.code, 2)
  t.match(semicolons.stderr, /^hub: the hub answered 400: file: .*\n {2}file: the header row has one column: is the file's delimiter ";"\? \(send --delimiter ';'\)$/m)
  // The API's names of the options are said as the command's flags.
  const onlyEmpty = await hub(['import', file, '--type', 'customer', '--only-empty'], env)
  t.match(onlyEmpty.stderr, /^hub: the hub answered 400: --only-empty: needs --override\b/m)
  const match = await hub(['import', file, '--type', 'customer', '--match', 'nope'], env)
  t.match(match.stderr, /^hub: the hub answered 400: --match: /m)
})

t.test('hub import with a wrong key, a read-only key or a bad field stops there, before sending the file', async t => {
  // The hub's own log of the requests it received: the upload must not be among them.
  let logged = ''
  const log = pino(loggerOptions('info'), { write: (line: string) => { logged += line } })
  const h = await buildTestHub(t, { listen: true, log, env: { HUB_MAX_EVENT_LOOP_DELAY_MS: '0' } })
  const dir = await mkdtemp(join(tmpdir(), 'hub-cli-import-'))
  const file = join(dir, 'customers.csv')
  await writeFile(file, 'email_address,first_name\na@example.com,A\n')
  const run = await hub(['import', file, '--type', 'customer'], { HUB_URL: h.url, HUB_ADMIN_KEY: 'not-the-admin-key-000000' })
  t.equal(run.code, 2, run.stderr)
  t.match(run.stderr, /^hub: the hub rejected the admin key \(401\): invalid admin key; pass --key or set HUB_ADMIN_KEY$/m)
  t.notMatch(run.stderr, /sending/, 'no upload bar')
  const reader = (await h.app.inject({ method: 'POST', url: '/v1/admin-keys', headers: h.auth, payload: { name: 'reader', scopes: ['read'] } })).json().key
  const readOnly = await hub(['import', file, '--type', 'customer'], { HUB_URL: h.url, HUB_ADMIN_KEY: reader })
  t.equal(readOnly.code, 2, readOnly.stderr)
  t.match(readOnly.stderr, /^hub: the hub refused the admin key \(403\): .*write/m)
  const noSystem = await hub(['import', file, '--type', 'customer', '--system', 'nope'], { HUB_URL: h.url, HUB_ADMIN_KEY: ADMIN_KEY })
  t.equal(noSystem.code, 2, noSystem.stderr)
  t.match(noSystem.stderr, /^hub: the hub answered 400: --system: no system nope is configured$/m)
  t.notMatch(readOnly.stderr + noSystem.stderr, /sending/, 'no upload bar')
  // Each run tried its key and fields on a body without the file, and stopped: an upload would
  // have been a second POST.
  const requests = logged.split('\n').filter(Boolean).map(line => JSON.parse(line)).filter(l => l.msg === 'incoming request')
  t.same(requests.map(l => `${l.req.method} ${l.req.url}`), ['POST /v1/imports', 'POST /v1/admin-keys', 'POST /v1/imports', 'POST /v1/imports'], 'one try each, nothing uploaded')
  t.equal((await h.hub.pool.query('SELECT count(*)::int AS n FROM hub.imports')).rows[0].n, 0)
})

t.test("the import summary says where row errors beyond the first twenty can be read, and which the hub did not keep", async t => {
  const view = (errors: number, kept: number, total = 300): ImportView => ({
    id: 'i', type: 'customer', status: 'finished', total, success: total - errors, unchanged: 0, errors,
    errorDetails: Array.from({ length: kept }, (_, k) => ({ row: k + 2, field: 'email_address', message: 'bad' })),
    message: null, options: { delimiter: ',', key: 'email_address', overrideExisting: false, updateOnlyEmptyFields: false },
    createdAt: '', startedAt: null, finishedAt: null
  })
  t.match(importSummary(view(130, 100)), /\n {2}\(80 more in GET \/v1\/imports\/i; 30 not kept \(the hub keeps the first 100\)\)\n$/)
  t.match(importSummary(view(50, 50)), /\n {2}\(30 more in GET \/v1\/imports\/i\)\n$/)
  t.notMatch(importSummary(view(3, 3)), /more/)
  t.match(importSummary(view(0, 0, 1)), /: finished, 1 row: 1 written/)
})
