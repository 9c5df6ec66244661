// `npm run demo`: the sandbox shop, CRM and ERP plus a hub on the embedded database configured
// with examples/hub.config.yaml; makes changes in the shop and prints what arrived where.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { exampleEnv, startSandbox } from './index.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const ADMIN_KEY = 'demo-admin-key-0123456789'

const freePort = () => new Promise<number>(resolve => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number }
    s.close(() => resolve(port))
  })
})

async function until (what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

const sandbox = await startSandbox()
const port = await freePort()
const hubUrl = `http://127.0.0.1:${port}`
console.log(`sandbox: shop ${sandbox.shop.url}, CRM ${sandbox.crm.url}, ERP ${sandbox.erp.url}`)
console.log(`starting the hub on ${hubUrl} (embedded PostgreSQL in ./.hub-demo) …`)
const hub = spawn(process.execPath, ['src/server.ts'], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env,
    ...exampleEnv(sandbox),
    PORT: String(port),
    HUB_DATA_DIR: './.hub-demo',
    HUB_CONFIG: 'examples/hub.config.yaml',
    HUB_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: 'warn'
  }
})
const stop = async () => {
  hub.kill('SIGTERM')
  await new Promise(resolve => hub.once('exit', resolve))
  await sandbox.close()
}

try {
  await until('the hub to be ready', async () => (await fetch(hubUrl + '/ready').catch(() => undefined))?.status === 200, 60_000)
  sandbox.shop.emitTo({ url: `${hubUrl}/v1/hooks/shop`, key: exampleEnv(sandbox).SHOP_WEBHOOK_KEY })

  console.log('\n1. The CRM already knows grace@example.com; the shop creates three customers.')
  sandbox.crm.put('customer', { email: 'grace@example.com', firstName: 'Grace' })
  const ada = sandbox.shop.put('customer', { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', accepts_marketing: true, tags: ['vip'], addresses: [{ kind: 'billing', line1: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' }] })
  const grace = sandbox.shop.put('customer', { email: 'grace@example.com', first_name: 'Grace', last_name: 'Hopper', accepts_marketing: false })
  const alan = sandbox.shop.put('customer', { email: 'alan@example.com', first_name: 'Alan', last_name: 'Turing' })
  await until('three customers in the ERP', () => sandbox.erp.all('customer').length === 3)

  console.log('2. Ada changes her name; Alan is deleted.')
  sandbox.shop.patch('customer', ada.id, { first_name: 'Augusta Ada' })
  sandbox.shop.remove('customer', alan.id)
  await until('the update and the delete', () => sandbox.erp.all('customer').length === 2 &&
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
  console.log(`\nThe hub's API is described at ${hubUrl}/docs while it runs.`)
} finally {
  await stop()
}
