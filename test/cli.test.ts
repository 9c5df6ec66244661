// The `hub` command line, run as its own process (as a user would) against a listening hub.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import type { BatchStatus } from '../src/cli/client.ts'
import { throttled } from '../src/cli/output.ts'
import { exits, field, hub } from './helpers/cli.ts'
import type { Run } from './helpers/cli.ts'
import { ADMIN_KEY } from './helpers/hub.ts'
import { startPipeline } from './helpers/pipeline.ts'

const dir = await mkdtemp(join(tmpdir(), 'hub-cli-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
let files = 0
async function csv (text: string): Promise<string> {
  const file = join(dir, `ids-${++files}.csv`)
  await writeFile(file, text)
  return file
}

const batchIdOf = (out: string) => field(out, 'batch')!

/** The last line a progress bar printed (off a terminal: `<label> <value>/<total> | ...`). */
const lastBar = (run: Run, label: string) => run.stderr.split('\n').filter(l => l.startsWith(`${label} `)).at(-1)

/** Progress goes to stderr; off a terminal it must be plain lines, never cursor codes. */
function noTerminalCodes (t: Test, run: Run) {
  t.notOk(/\x1b/.test(run.stdout + run.stderr), 'no terminal escape codes off a TTY')
}

t.test('hub --help lists the commands; a usage error exits 2', async t => {
  const help = await hub(['--help'])
  exits(t, help, 0)
  t.match(help.stdout, /^Usage: hub /m)
  t.match(help.stdout, /^ {2}sync \[options\]/m)
  t.match(help.stdout, /^ {2}status \[options\] <batchId>/m)
  const syncHelp = await hub(['sync', '--help'])
  for (const option of ['--file', '--system', '--type', '--scope', '--direction', '--target', '--debug', '--no-wait', '--url', '--key']) {
    t.match(syncHelp.stdout, option, `sync --help mentions ${option}`)
  }
  const noFile = await hub(['sync', '--system', 'shop'])
  exits(t, noFile, 2)
  t.match(noFile.stderr, /required option '--file <path>'/)
})

t.test('an unreachable hub, a missing file and a bare action are one clear line each, exit 2', async t => {
  const port = await new Promise<number>(resolve => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
  const file = await csv('id\n1\n')
  const url = `http://127.0.0.1:${port}`
  const down = await hub(['sync', '--system', 'shop', '--scope', 'customer/update', '--file', file], { HUB_URL: url, HUB_ADMIN_KEY: ADMIN_KEY })
  exits(t, down, 2)
  t.match(down.stderr, `hub: cannot reach the hub at ${url}: connect ECONNREFUSED`)
  t.equal(down.stdout, '')
  const status = await hub(['status', '00000000-0000-0000-0000-000000000000', '--url', url, '--key', ADMIN_KEY])
  exits(t, status, 2)
  t.match(status.stderr, `hub: cannot reach the hub at ${url}: connect ECONNREFUSED`)

  const missing = await hub(['sync', '--system', 'shop', '--scope', 'customer/update', '--file', join(dir, 'nope.csv')], { HUB_URL: url })
  exits(t, missing, 2)
  t.match(missing.stderr, `hub: cannot read ${join(dir, 'nope.csv')}: no such file`)
  const bare = await hub(['sync', '--system', 'shop', '--scope', 'update', '--file', file], { HUB_URL: url })
  exits(t, bare, 2)
  t.match(bare.stderr, /--scope update names only the action: add --type/)
  const badUrl = await hub(['status', '00000000-0000-0000-0000-000000000000', '--url', 'localhost:8080'])
  exits(t, badUrl, 2)
  t.match(badUrl.stderr, /--url: 'localhost:8080' is not an http\(s\) URL/)
})

t.test('only throttles that hold jobs back are named', async t => {
  const waitingOn = [
    { system: 'crm', pending: 3, maxConcurrent: 2, perSecond: null },
    { system: 'erp', pending: 1, maxConcurrent: 2, perSecond: 10 },
    { system: 'shop', pending: 4, maxConcurrent: 4, perSecond: null }
  ]
  t.equal(throttled({ waitingOn } as BatchStatus), 'crm: throttled to 2 concurrent; erp: throttled to 2 concurrent / 10 per second',
    'more pending than may run at once, or paced; not the shop, whose 4 jobs all run at once')
  t.equal(throttled({ waitingOn: [] as BatchStatus['waitingOn'] } as BatchStatus), '')
})

t.test('against a running hub', async t => {
  const p = await startPipeline(t)
  p.shop.emitTo(null) // only the CLI's batches move records
  const env = { HUB_URL: p.url, HUB_ADMIN_KEY: ADMIN_KEY }
  const customers = ['ada', 'grace', 'alan'].map(name => p.shop.put('customer', { email: `${name}@example.com`, first_name: name }))
  const ids = await csv('id\n' + customers.map(c => c.id).join('\n') + '\n')
  let first: Run

  await t.test('a sync of shop customers follows the batch to the end and prints the summary', async t => {
    first = await hub(['sync', '--system', 'shop', '--type', 'customer', '--scope', 'update', '--file', ids], env)
    exits(t, first, 0)
    t.match(first.stdout, /^batch {6}[0-9a-f-]{36}$/m)
    t.equal(field(first.stdout, 'sync'), 'customer/update from shop (inbound)')
    t.equal(field(first.stdout, 'state'), 'finished')
    t.equal(field(first.stdout, 'queued'), '3')
    t.equal(field(first.stdout, 'coalesced'), '0')
    t.equal(field(first.stdout, 'rejected'), '0')
    t.equal(field(first.stdout, 'completed'), '3')
    t.equal(field(first.stdout, 'skipped'), '0')
    t.equal(field(first.stdout, 'failed'), '0')
    t.equal(field(first.stdout, 'deliveries'), '6 completed, 0 skipped, 0 failed')
    t.notMatch(first.stdout, /rejected lines|failures/)
    t.match(first.stderr, /^sending 0 B\/\d+ B/m, 'a plain progress line off a terminal')
    t.match(lastBar(first, 'sending'), /^sending (\d+) B\/\1 B \| \d+(\.\d)? (B|KiB|MiB)\/s \| ETA 0s$/, 'the upload ends with its rate')
    t.match(lastBar(first, 'processing'), /^processing 3\/3 \| \d+(\.\d)? records\/s \| ETA 0s \| 0 failed$/, 'the processing bar ends with its rate')
    t.match(lastBar(first, 'deliveries'), /^deliveries 6\/6 \| \d+(\.\d)? deliveries\/s \| ETA 0s \| 0 failed$/, 'the deliveries have a bar of their own')
    noTerminalCodes(t, first)
    t.same(p.crm.all('customer').map(c => c.email).sort(), ['ada@example.com', 'alan@example.com', 'grace@example.com'], 'the customers reached the CRM')
    t.same(p.erp.all('customer').map(c => c.email).sort(), ['ada@example.com', 'alan@example.com', 'grace@example.com'], 'and the ERP')
  })

  await t.test('hub status prints the same summary', async t => {
    const status = await hub(['status', batchIdOf(first.stdout)], env)
    exits(t, status, 0)
    t.equal(status.stdout, first.stdout)
    t.equal(status.stderr, '')
    const watched = await hub(['status', batchIdOf(first.stdout), '--watch'], env)
    exits(t, watched, 0)
    t.equal(watched.stdout, first.stdout)
    const unknown = await hub(['status', '00000000-0000-0000-0000-000000000000'], env)
    exits(t, unknown, 2)
    t.match(unknown.stderr, 'hub: the hub answered 404: no batch 00000000-0000-0000-0000-000000000000')
  })

  await t.test('--no-wait returns once the ids are queued; status --watch follows the batch', async t => {
    const queued = await hub(['sync', '--system', 'shop', '--scope', 'customer/update', '--file', ids, '--no-wait'], env)
    exits(t, queued, 0)
    t.equal(field(queued.stdout, 'queued'), '3')
    const batchId = batchIdOf(queued.stdout)
    t.match(queued.stdout, `follow it with: hub status ${batchId} --watch`)
    t.notMatch(queued.stdout, /^completed/m)
    const watched = await hub(['status', batchId, '--watch'], env)
    exits(t, watched, 0)
    t.equal(field(watched.stdout, 'state'), 'finished')
    t.equal(field(watched.stdout, 'completed'), '3')
    // Nothing changed in the shop: the records are unchanged, so nothing is delivered.
    t.equal(field(watched.stdout, 'deliveries'), '0 completed, 0 skipped, 0 failed')
  })

  await t.test('ids the source does not have are listed as skipped, with why; a skip is not a failure', async t => {
    const run = await hub(['sync', '--system', 'shop', '--scope', 'customer/update', '--file', await csv('id\n' + customers[0].id + '\n9999\n')], env)
    exits(t, run, 0)
    t.equal(field(run.stdout, 'skipped'), '1')
    t.match(run.stdout, /^skipped:\n {2}9999: not found in shop \(404\)$/m)
  })

  await t.test('ids that fail are listed with their messages, and the exit code says so', async t => {
    const more = ['edsger', 'barbara', 'donald', 'frances'].map(name => p.shop.put('customer', { email: `${name}@example.com`, first_name: name }))
    p.shop.failNext(2, 400, { method: 'GET', pathPrefix: '/customers' })
    p.crm.failNext(1, 422, { method: 'POST', pathPrefix: '/customers', body: { error: 'email rejected by the CRM' } })
    const run = await hub(['sync', '--system', 'shop', '--scope', 'customer/create', '--file', await csv('id\n' + more.map(c => c.id).join('\n') + '\n')], env)
    exits(t, run, 1)
    t.equal(field(run.stdout, 'queued'), '4')
    t.equal(field(run.stdout, 'completed'), '2')
    t.equal(field(run.stdout, 'failed'), '2')
    t.equal(field(run.stdout, 'deliveries'), '3 completed, 0 skipped, 1 failed')
    const listed = run.stdout.slice(run.stdout.indexOf('failures:\n') + 'failures:\n'.length).trimEnd().split('\n')
    t.equal(listed.length, 3, 'every failure is listed')
    const inbound = listed.filter(l => l.startsWith('  shop '))
    t.equal(inbound.length, 2)
    for (const line of inbound) {
      const [, id] = /^ {2}shop (\S+): GET \/customers\/(\S+) answered 400/.exec(line) ?? []
      t.ok(id && more.some(c => c.id === id), `an inbound failure names the shop id and the answer: ${line}`)
      t.match(line, /\[HTTP 400\] \(job [0-9a-f-]{36}\)$/)
    }
    t.match(listed.find(l => l.startsWith('  crm ')), /^ {2}crm record [0-9a-f-]{36}: POST \/customers answered 422: email rejected by the CRM \[HTTP 422\]/, 'the failed delivery names the CRM and the hub record')

    const status = await hub(['status', batchIdOf(run.stdout)], env)
    t.equal(status.code, 1, 'hub status exits non-zero for a batch with failures')
    t.equal(status.stdout, run.stdout)
  })

  await t.test('rejected lines are listed with their line numbers', async t => {
    const [a, b, c] = customers
    const file = await csv(['id,scope', `${a.id},customer/update`, ',', `${a.id},`, `${b.id},order/update`, `${c.id},customer/update`].join('\n') + '\n')
    const run = await hub(['sync', '--system', 'shop', '--type', 'customer', '--scope', 'update', '--file', file], env)
    exits(t, run, 1)
    t.equal(field(run.stdout, 'queued'), '2')
    t.equal(field(run.stdout, 'rejected'), '3')
    t.equal(field(run.stdout, 'failed'), '0')
    t.match(run.stdout, [
      'rejected lines:',
      '  line 3: blank id',
      `  line 4: "${a.id}": duplicate of line 2`,
      `  line 5: "${b.id}": scope 'order/update' is not customer/<create|update|delete>`
    ].join('\n'))
    const status = await hub(['status', batchIdOf(run.stdout)], env)
    t.equal(status.code, 1, 'hub status exits non-zero for a batch with rejected ids')
    t.equal(field(status.stdout, 'rejected'), '3')
    t.match(status.stdout, '(the rejected lines are listed only in the answer to the upload, by hub sync)')

    const noWait = await hub(['sync', '--system', 'shop', '--scope', 'customer/update', '--file', file, '--no-wait'], env)
    exits(t, noWait, 1)
    t.match(noWait.stdout, '  line 3: blank id')
  })

  await t.test('outbound: hub records are pushed to the --target only', async t => {
    p.crm.resetCalls()
    p.erp.resetCalls()
    const run = await hub(['sync', '--direction', 'outbound', '--target', 'crm', '--system', 'shop', '--scope', 'customer/update', '--file', ids, '--debug'], env)
    exits(t, run, 0)
    t.equal(field(run.stdout, 'sync'), 'customer/update to crm (outbound, ids of shop)')
    t.equal(field(run.stdout, 'queued'), '3')
    t.equal(field(run.stdout, 'completed'), '3')
    t.notMatch(run.stdout, /^deliveries/m, 'an outbound batch has no fan-out of its own')
    t.match(run.stdout, /^debug traces \(GET \/v1\/jobs\/<id>\):\n( {2}[0-9a-f-]{36}\n){3}$/m)
    t.equal(p.crm.calls({ method: 'PUT', pathPrefix: '/customers/' }).length, 3, 'the CRM got the three updates')
    t.equal(p.erp.calls().length, 0, 'the ERP heard nothing')

    const noTarget = await hub(['sync', '--direction', 'outbound', '--scope', 'customer/update', '--file', ids], env)
    exits(t, noTarget, 2)
    t.match(noTarget.stderr, 'hub: the hub answered 400: target: required for direction outbound')
  })

  await t.test('a throttle that holds the deliveries back is named while they wait', async t => {
    // Paced at 4 calls a second, the CRM keeps its deliveries waiting over several polls.
    await p.putSystem('crm', doc => { doc.throttle = { maxConcurrent: 1, perSecond: 4 } })
    t.teardown(() => p.putSystem('crm', () => {}))
    const slow = ['ida', 'hedy', 'mary', 'karen'].map(name => p.shop.put('customer', { email: `${name}@example.com`, first_name: name }))
    const run = await hub(['sync', '--system', 'shop', '--scope', 'customer/create', '--file', await csv('id\n' + slow.map(c => c.id).join('\n') + '\n')], env)
    exits(t, run, 0)
    t.equal(field(run.stdout, 'deliveries'), '8 completed, 0 skipped, 0 failed')
    t.match(run.stderr, /^(.+; )?crm: throttled to 1 concurrent \/ 4 per second(;.*)?$/m, 'the CRM\'s throttle is named')
    t.match(lastBar(run, 'deliveries'), /^deliveries 8\/8 \| \d+(\.\d)? deliveries\/s \| ETA 0s \| 0 failed$/)
  })

  await t.test('a wrong, missing or under-scoped key is one clear line, exit 2', async t => {
    const wrong = await hub(['sync', '--system', 'shop', '--scope', 'customer/update', '--file', ids], { ...env, HUB_ADMIN_KEY: 'not-the-admin-key-000000' })
    exits(t, wrong, 2)
    t.match(wrong.stderr, /^hub: the hub rejected the admin key \(401\): invalid admin key; pass --key or set HUB_ADMIN_KEY$/m)
    t.equal(wrong.stdout, '')
    const missing = await hub(['status', batchIdOf(first.stdout)], { HUB_URL: p.url })
    exits(t, missing, 2)
    t.match(missing.stderr, /^hub: the hub rejected the admin key \(401\): missing admin key/m)

    const created = await p.app.inject({ method: 'POST', url: '/v1/admin-keys', headers: p.auth, payload: { name: 'cli-read-only', scopes: ['read'] } })
    const readOnly = created.json().key
    const denied = await hub(['sync', '--system', 'shop', '--scope', 'customer/update', '--file', ids, '--key', readOnly], env)
    exits(t, denied, 2)
    t.match(denied.stderr, /^hub: the hub refused the admin key \(403\): this key lacks the 'write' scope$/m)
    const allowed = await hub(['status', batchIdOf(first.stdout), '--key', readOnly], env)
    t.equal(allowed.code, 0, 'reading a batch needs only read')

    const badSystem = await hub(['sync', '--system', 'nope', '--scope', 'customer/update', '--file', ids], env)
    exits(t, badSystem, 2)
    t.match(badSystem.stderr, /^hub: the hub answered 400: system: no system 'nope'$/m)
    // Each was refused on a request without the ids, before any of the file was sent.
    for (const run of [wrong, denied, badSystem]) t.notMatch(run.stderr, /sending/, 'no upload bar')
  })
})
