// Scenario 4: time from sending a debug job to its start with 100,000 jobs queued ahead of it.
import pg from 'pg'
import { waitUntil } from '../src/wait-until.ts'
import { auth, benchConfig, percentile, sandboxFor, sleep, startHub } from './lib.ts'
import { numbered, postCsv } from './bulk-sync.ts'

const QUEUED = Number(process.env.BENCH_DEBUG_QUEUED ?? 100_000)
const SAMPLES = Number(process.env.BENCH_DEBUG_SAMPLES ?? 100)

export async function benchDebugLatency (databaseUrl: () => Promise<string>) {
  const { sandbox, env } = await sandboxFor()
  const url = await databaseUrl()
  const hub = await startHub({ ...env, DATABASE_URL: url, HUB_ROLE: 'all', HUB_CONFIG: await benchConfig() })
  const db = new pg.Client(url)
  await db.connect()
  // Ids the shop does not have: each queued job is a real fetch (answered 404) for the workers.
  await postCsv(hub.url, numbered(QUEUED, 'missing'))
  const customer = sandbox.shop.put('customer', { email: 'debug@example.com', first_name: 'Dee' })
  const latencies: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    const sent = Date.now()
    const res = await fetch(`${hub.url}/v1/sync`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ system: 'shop', scope: 'customer/update', ids: [customer.id], debug: true })
    })
    const { batchId } = await res.json() as { batchId: string }
    let started = 0
    await waitUntil('the debug job to start', async () => {
      const { rows } = await db.query(
        "SELECT extract(epoch FROM started_on) * 1000 AS at FROM pgboss.job WHERE name = 'inbound' AND data->>'batchId' = $1 AND started_on IS NOT NULL", [batchId])
      started = rows[0]?.at
      return !!started
    }, { timeoutMs: 60_000, everyMs: 5 })
    latencies.push(Math.round(started - sent))
    await sleep(200)
  }
  const { rows: [{ left }] } = await db.query("SELECT count(*)::int AS left FROM pgboss.job WHERE name = 'inbound' AND state = 'created'")
  await db.end()
  await hub.stop()
  await sandbox.close()
  return { queuedAhead: QUEUED, stillQueuedAtEnd: left, samples: SAMPLES, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) }
}
