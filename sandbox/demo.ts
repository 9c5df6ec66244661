// `npm run demo`: the sandbox shop, CRM and ERP plus a hub configured with
// examples/hub.config.yaml; makes changes in the shop, prints what arrived where, then stays up
// (until Ctrl-C) with commands to try. `--exit` stops after the scripted part (tests).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Command } from 'commander'
import pg from 'pg'
import { DataDirLockedError, startEmbeddedPostgres } from '../src/db/embedded.ts'
import { freePort } from '../src/net/free-port.ts'
import { waitUntil } from '../src/wait-until.ts'
import { exampleEnv, startSandbox } from './index.ts'
import { parseOptions } from './options.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const ADMIN_KEY = 'demo-admin-key-0123456789'
const DATABASE = 'hub_demo'

const args = parseOptions<{ exit?: true, dataDir: string }>(new Command('npm run demo --')
  .description('The sandbox shop, CRM and ERP plus a hub configured with examples/hub.config.yaml: makes changes in the shop, prints what arrived where, then stays up until Ctrl-C.')
  .option('--exit', 'stop after the scripted part instead of staying up')
  .option('--data-dir <dir>', "the embedded PostgreSQL's data directory (reset on every run)", './.hub-demo'))
const dataDir = args.dataDir

// The sandbox keeps its records in memory, so every run starts the hub on an empty database:
// links left by an earlier run would point at records that no longer exist.
console.log(`resetting the demo database (embedded PostgreSQL in ${dataDir}) …`)
const postgres = await startEmbeddedPostgres(dataDir).catch((err: unknown) => {
  if (!(err instanceof DataDirLockedError)) throw err
  console.error(`${dataDir} is in use, most likely by a demo still running: stop it (Ctrl-C) or pass --data-dir <another directory>`)
  process.exit(2)
})
const databaseUrl = new URL(postgres.url)
{
  const admin = new pg.Client(postgres.url)
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${DATABASE}`)
  await admin.end()
  databaseUrl.pathname = '/' + DATABASE
}

// The shop posts a webhook for changes made through its API too, so a curl to it reaches the hub.
const sandbox = await startSandbox({ shop: { webhooksOnApiWrites: true } })
const env = exampleEnv(sandbox)

const port = await freePort()
const hubUrl = `http://127.0.0.1:${port}`
console.log(`sandbox: shop ${sandbox.shop.url}, CRM ${sandbox.crm.url}, ERP ${sandbox.erp.url}`)
console.log(`starting the hub on ${hubUrl} …`)
const hub = spawn(process.execPath, ['src/server.ts'], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env,
    ...env,
    PORT: String(port),
    DATABASE_URL: databaseUrl.toString(),
    HUB_CONFIG: 'examples/hub.config.yaml',
    HUB_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
  },
})
const hubExited = new Promise<number | null>((resolve) => hub.once('exit', resolve))
const hubFailed = hubExited.then((code) => { throw new Error(`the hub exited (${code}) before it was ready`) })
hubFailed.catch(() => {}) // only awaited while the hub starts

let stopping: Promise<void> | undefined
// The hub first (it finishes its jobs), then the systems it talks to, then its database.
const stop = () => (stopping ??= (async () => {
  if (hub.exitCode === null && hub.signalCode === null) hub.kill('SIGTERM')
  await hubExited
  await sandbox.close()
  await postgres.stop()
})())
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('\nstopping …')
    stop().then(() => process.exit(0), () => process.exit(1))
  })
}

try {
  await Promise.race([
    waitUntil('the hub to be ready', async () => (await fetch(hubUrl + '/ready').catch(() => undefined))?.status === 200, { timeoutMs: 60_000 }),
    hubFailed,
  ])
  sandbox.shop.emitTo({ url: `${hubUrl}/v1/hooks/shop`, key: env.SHOP_WEBHOOK_KEY })

  console.log('\n1. The CRM already knows grace@example.com; the shop creates three customers.')
  sandbox.crm.put('customer', { email: 'grace@example.com', firstName: 'Grace', subscribed: false })
  const ada = sandbox.shop.put('customer', { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', accepts_marketing: true, tags: ['vip'], addresses: [{ kind: 'billing', line1: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' }] })
  const grace = sandbox.shop.put('customer', { email: 'grace@example.com', first_name: 'Grace', last_name: 'Hopper', accepts_marketing: false })
  const alan = sandbox.shop.put('customer', { email: 'alan@example.com', first_name: 'Alan', last_name: 'Turing' })
  await waitUntil('three customers in the ERP', () => sandbox.erp.all('customer').length === 3)

  console.log('2. Ada changes her name; Alan is deleted.')
  sandbox.shop.patch('customer', ada.id, { first_name: 'Augusta Ada' })
  sandbox.shop.remove('customer', alan.id)
  await waitUntil('the update and the delete', () => sandbox.erp.all('customer').length === 2 &&
    sandbox.crm.all('customer').some(c => c.firstName === 'Augusta Ada'))
  await new Promise(resolve => setTimeout(resolve, 500))

  console.log('\nCRM customers (de-duplicated by email, externalId = our customer number):')
  console.table(sandbox.crm.all('customer').map(({ id, email, firstName, lastName, externalId, subscribed }) => ({ id, email, firstName, lastName, externalId, subscribed })))
  console.log('ERP customers:')
  console.table(sandbox.erp.all('customer').map(({ id, customerNo, name, email, billing }) => ({ id, customerNo, name, email, city: billing?.city })))
  for (const c of [ada, grace, alan]) {
    const res = await fetch(`${hubUrl}/v1/records/customer/by-link/shop/${c.id}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    const record = await res.json() as { id: string, history: Array<{ systemId: string, direction: string, action: string, outcome: string, reason: string | null }> }
    console.log(`History of shop customer ${c.id} (${c.email}), hub record ${record.id}:`)
    for (const h of record.history) console.log(`  ${h.direction.padEnd(8)} ${h.systemId.padEnd(5)} ${h.action.padEnd(7)} ${h.outcome}${h.reason ? ` (${h.reason})` : ''}`)
  }

  if (args.exit) {
    await stop()
  } else {
    console.log(`
The hub and the sandbox stay up until Ctrl-C.
  admin key  ${ADMIN_KEY}
  API docs   ${hubUrl}/docs

Try it in another shell. Change Grace's name in the shop (the shop posts its webhook to the hub):
  curl -X PUT ${sandbox.shop.url}/customers/${grace.id} -H 'authorization: Bearer ${env.SHOP_TOKEN}' -H 'content-type: application/json' -d '{"first_name": "Amazing Grace"}'
The hub's record of that shop customer, with its history:
  curl ${hubUrl}/v1/records/customer/by-link/shop/${grace.id} -H 'authorization: Bearer ${ADMIN_KEY}'
What the ERP and the CRM have now:
  curl ${sandbox.erp.url}/api/customers -u ${env.ERP_USER}:${env.ERP_PASSWORD}
  curl ${sandbox.crm.url}/customers -H 'x-api-key: ${env.CRM_API_KEY}'`)
    // a hub that dies on its own leaves nothing to explore
    hubExited.then((code) => {
      if (stopping) return
      console.error(`the hub exited (${code}); stopping`)
      stop().then(() => process.exit(1), () => process.exit(1))
    })
  }
} catch (err) {
  await stop()
  throw err
}
