// Scenario 2: records changed in the sandbox shop → webhooks → fetched → stored → delivered to
// the CRM and the ERP. Sustained records/s, and webhook-to-delivery latency at an offered rate.
import { waitUntil } from '../src/wait-until.ts'
import { benchConfig, percentile, sandboxFor, sleep, startHub } from './lib.ts'
import type { HubProcess } from './lib.ts'

const RECORDS = Number(process.env.BENCH_E2E_RECORDS ?? 3000)
const RATE = Number(process.env.BENCH_E2E_RATE ?? 500)
const RATE_SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
// 0: one process in the default role (all); N: one API process and N worker processes.
const WORKERS = Number(process.env.BENCH_WORKERS ?? 0)

/** When each email reached both destinations (its create call), in ms since the epoch. */
function deliveredAt (sandbox: Awaited<ReturnType<typeof sandboxFor>>['sandbox']): Map<string, number> {
  const at = new Map<string, number>()
  const seen = new Map<string, number>()
  const calls = [...sandbox.crm.calls({ method: 'POST', pathPrefix: '/customers' }), ...sandbox.erp.calls({ method: 'POST', pathPrefix: '/api/customers' })]
  for (const call of calls) {
    const email = (call.body as { email?: string })?.email
    if (!email || call.status === undefined || call.status >= 300) continue
    const n = (seen.get(email) ?? 0) + 1
    seen.set(email, n)
    at.set(email, Math.max(at.get(email) ?? 0, call.at))
  }
  for (const [email, n] of seen) if (n < 2) at.delete(email)
  return at
}

async function run (databaseUrl: string, put: (sandbox: any) => Promise<Map<string, number>>, total: number) {
  const { sandbox, env } = await sandboxFor()
  const common = { ...env, DATABASE_URL: databaseUrl, HUB_CONFIG: await benchConfig() }
  const hub = await startHub({ ...common, HUB_ROLE: WORKERS ? 'api' : 'all' })
  const workers: HubProcess[] = []
  for (let i = 0; i < WORKERS; i++) workers.push(await startHub({ ...common, HUB_ROLE: 'worker' }))
  sandbox.shop.emitTo({ url: `${hub.url}/v1/hooks/shop`, key: env.SHOP_WEBHOOK_KEY })
  const started = Date.now()
  const changedAt = await put(sandbox)
  // The sandbox shop does not retry a webhook the hub did not answer within 10 s; such a change
  // never reaches the hub, so it is counted apart rather than waited for.
  await waitUntil('every record delivered', () => deliveredAt(sandbox).size + sandbox.shop.emitErrors >= total, { timeoutMs: 600_000, everyMs: 200 })
  const seconds = (Date.now() - started) / 1000
  const delivered = deliveredAt(sandbox)
  const latencies = [...changedAt].filter(([email]) => delivered.has(email)).map(([email, at]) => delivered.get(email)! - at)
  const webhooksLost = sandbox.shop.emitErrors
  await hub.stop()
  await Promise.all(workers.map(w => w.stop()))
  await sandbox.close()
  return { processes: WORKERS ? `api + ${WORKERS} worker${WORKERS > 1 ? 's' : ''}` : 'all in one', records: total, webhooksLost, seconds: Number(seconds.toFixed(1)), recordsPerSecond: Math.round(delivered.size / seconds), p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}

export async function benchEndToEnd (databaseUrl: () => Promise<string>) {
  // As fast as the shop can change records: the hub's sustained throughput.
  const burst = await run(await databaseUrl(), async sandbox => {
    const at = new Map<string, number>()
    for (let i = 0; i < RECORDS; i++) {
      const email = `burst${i}@example.com`
      sandbox.shop.put('customer', { email, first_name: `B${i}`, last_name: 'Bench' })
      at.set(email, Date.now())
      if (i % 100 === 99) await sleep(0)
    }
    return at
  }, RECORDS)
  // A steady offered rate: latency from the change to its delivery to both destinations.
  const total = RATE * RATE_SECONDS
  const steady = await run(await databaseUrl(), async sandbox => {
    const at = new Map<string, number>()
    const tick = 10
    const perTick = RATE * tick / 1000
    const start = Date.now()
    for (let i = 0; i < total;) {
      for (let k = 0; k < perTick && i < total; k++, i++) {
        const email = `steady${i}@example.com`
        sandbox.shop.put('customer', { email, first_name: `S${i}`, last_name: 'Bench' })
        at.set(email, Date.now())
      }
      await sleep(Math.max(0, start + (i / RATE) * 1000 - Date.now()))
    }
    return at
  }, total)
  return { burst, steady: { offeredPerSecond: RATE, ...steady } }
}
