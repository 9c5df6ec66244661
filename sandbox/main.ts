// `npm run sandbox`: the three sandbox systems alone, for a hub started separately with
// examples/hub.config.yaml. Prints the environment that config needs; `--seed N` puts N
// customers in the shop.
import { Command } from 'commander'
import { exampleEnv, startSandbox } from './index.ts'
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

const options = parseOptions<{ seed: string }>(new Command('npm run sandbox --')
  .description('The sandbox shop, CRM and ERP alone, for a hub started separately with examples/hub.config.yaml (HUB_URL, SHOP_PORT, CRM_PORT, ERP_PORT).')
  .option('--seed <n>', 'put this many customers in the shop (their webhooks go to HUB_URL)', '0'))
const seed = Number(options.seed)
if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a number of customers, got ${options.seed}`)
const hubUrl = (process.env.HUB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '')

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
  npm start`)

if (seed > 0) {
  const seeded = seedShop(sandbox.shop, seed)
  const [first, last] = [seeded[0]!.id, seeded[seeded.length - 1]!.id]
  console.log(`
Seeded ${seed} shop customers (ids ${first}-${last}); their webhooks went to ${hubUrl}.
If no hub was listening then, sync them by hand once it runs:
  (echo id; seq ${first} ${last}) | curl -X POST '${hubUrl}/v1/sync?system=shop&scope=customer/update' \\
    -H "authorization: Bearer $HUB_ADMIN_KEY" -H 'content-type: text/csv' --data-binary @-`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    sandbox.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
