// Runs the three sandbox systems standalone (demo, manual testing against a running hub).
import { startSandbox } from './index.ts'

function port(name: string, fallback: number): number {
  const raw = process.env[name]
  const n = raw === undefined || raw === '' ? fallback : Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number, got ${raw}`)
  return n
}

const sandbox = await startSandbox({
  shop: { port: port('SHOP_PORT', 4101) },
  crm: { port: port('CRM_PORT', 4102) },
  erp: { port: port('ERP_PORT', 4103) },
})

console.log(JSON.stringify({ shop: sandbox.shop.url, crm: sandbox.crm.url, erp: sandbox.erp.url }))

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    sandbox.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
