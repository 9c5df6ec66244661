// `npm run sandbox`: the three sandbox systems alone, for a hub started separately with
// examples/hub.config.yaml. Prints the environment that config needs; `--seed N` puts N
// customers in the shop; `--pull` adds the two sources that send no webhooks, for pull sync.
import { Command } from 'commander'
import { exampleEnv, ledgerSystem, startLedger, startSandbox, startStockroom, stockroomSystem } from './index.ts'
import { parseOptions } from './options.ts'
import { seedShop } from './seed.ts'

function fail (message: string): never {
  process.stderr.write(message + '\n')
  process.exit(2)
}

function port (name: string, fallback: number): number {
  const raw = process.env[name]
  const n = raw === undefined || raw === '' ? fallback : Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`${name} must be a port number, got ${raw}`)
  return n
}

const options = parseOptions<{ seed: string, pull?: boolean }>(new Command('npm run sandbox --')
  .description('The sandbox shop, CRM and ERP alone, for a hub started separately with examples/hub.config.yaml (HUB_URL, SHOP_PORT, CRM_PORT, ERP_PORT).')
  .option('--seed <n>', 'put this many customers in the shop (their webhooks go to HUB_URL)', '0')
  .option('--pull', 'also run the ledger and the stockroom, two sources that send no webhooks, for pull sync (LEDGER_PORT, STOCKROOM_PORT)'))
const seed = Number(options.seed)
if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a number of customers, got ${options.seed}`)
const hubUrl = (process.env.HUB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '')
// The hub it suggests starting listens where the shop's webhooks go.
const hubPort = URL.canParse(hubUrl) ? new URL(hubUrl).port : fail(`HUB_URL must be a URL such as http://127.0.0.1:8080, got ${hubUrl}`)
const startHub = hubPort && hubPort !== '8080' ? `PORT=${hubPort} npm start` : 'npm start'

const sandbox = await startSandbox({
  // the shop also posts webhooks for changes made through its API, so a curl to it reaches the hub
  shop: { port: port('SHOP_PORT', 4101), webhooksOnApiWrites: true },
  crm: { port: port('CRM_PORT', 4102) },
  erp: { port: port('ERP_PORT', 4103) },
})
const env = exampleEnv(sandbox)
sandbox.shop.emitTo({ url: `${hubUrl}/v1/hooks/shop`, key: env.SHOP_WEBHOOK_KEY })

console.log(`Sandbox systems, until Ctrl-C:
  shop  ${sandbox.shop.url}  posts its webhooks to ${hubUrl}/v1/hooks/shop (HUB_URL)
  CRM   ${sandbox.crm.url}
  ERP   ${sandbox.erp.url}

The environment examples/hub.config.yaml needs, and a hub started with it (paste into another shell):
${Object.entries(env).map(([name, value]) => `  export ${name}='${value}'`).join('\n')}
  export HUB_CONFIG=examples/hub.config.yaml HUB_ADMIN_KEY=sandbox-admin-key-0123456789
  ${startHub}`)

if (seed > 0) {
  const seeded = seedShop(sandbox.shop, seed)
  const [first, last] = [seeded[0]!.id, seeded[seeded.length - 1]!.id]
  console.log(`
Seeded ${seed} shop customers (ids ${first}-${last}); their webhooks went to ${hubUrl}.
If no hub was listening then, sync them by hand once it runs:
  (echo id; seq ${first} ${last}) | curl -X POST '${hubUrl}/v1/sync?system=shop&scope=customer/update' \\
    -H "authorization: Bearer $HUB_ADMIN_KEY" -H 'content-type: text/csv' --data-binary @-`)
}

const pullSources = options.pull ? [await startLedger({ port: port('LEDGER_PORT', 4104) }), await startStockroom({ port: port('STOCKROOM_PORT', 4105) })] : []
if (options.pull) {
  const [ledger, stockroom] = pullSources
  for (let i = 1; i <= 5; i++) ledger.put(`L${i}`, { email: `ledger${i}@example.com`, name: `Ledger customer ${i}` })
  for (let i = 1; i <= 5; i++) stockroom.put(`P${i}`, { sku: `SKU-${i}`, title: `Product ${i}` })
  const put = (doc: { id: string }) => `  curl -X PUT ${hubUrl}/v1/systems/${doc.id} -H "authorization: Bearer $HUB_ADMIN_KEY" \\
    -H 'content-type: application/json' -d '${JSON.stringify(doc)}'`
  console.log(`
Pull sync (README, Pull sync): two sources that send no webhooks, 5 records each.
  ledger     ${ledger.url}  customers, listed by version: cursor mode
  stockroom  ${stockroom.url}  products, listed whole: audit mode
Add them to the hub, then poll each now (or wait for the hourly schedule):
${put(ledgerSystem(ledger.url))}
${put(stockroomSystem(stockroom.url))}
  npx hub poll ledger customer; npx hub poll stockroom product
Change or delete a record, and poll again to see only that change arrive:
  curl -X PUT ${ledger.url}/customers/L2 -H 'content-type: application/json' -d '{"email": "ledger2@example.com", "name": "Renamed"}'
  curl -X DELETE ${stockroom.url}/products/P3`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    Promise.all([sandbox.close(), ...pullSources.map(s => s.close())]).then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
