// The sync endpoints (seed 001): POST /v1/records/customer/batch with 1,000 items, one request at
// a time, as a system pushing its records would. Half the batches create, half replace what an
// earlier one created, so both paths are timed. Reports p50/p99 latency and records per second.
// `node bench/records-batch.ts`; BENCH_RECORDS_BATCHES to change the count (default 40).
import { auth, benchConfig, percentile, runAlone, sandboxFor, startHub } from './lib.ts'

const BATCHES = Number(process.env.BENCH_RECORDS_BATCHES ?? 40)
const SIZE = 1_000

const batch = (from: number, edition: number) => Array.from({ length: SIZE }, (_, i) => ({
  external_id: `B${from + i}`,
  email_address: `batch${from + i}@example.com`,
  first_name: `First${from + i}`,
  last_name: `Edition ${edition}`,
  addresses: [{ address_1: `${i} High Street`, city: 'Springfield', country: 'GB' }]
}))

export async function benchRecordsBatch (databaseUrl: string) {
  const { sandbox, env } = await sandboxFor()
  // API only: the request's own cost (the write and its fan-out rows), not the deliveries.
  const hub = await startHub({ ...env, DATABASE_URL: databaseUrl, HUB_ROLE: 'api', HUB_CONFIG: await benchConfig() })
  try {
    const post = async (items: object[]) => {
      const started = performance.now()
      const res = await fetch(`${hub.url}/v1/records/customer/batch?system=erp`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(items) })
      const body = await res.json() as { results: { status: string }[] }
      if (res.status !== 200 || body.results.some(r => r.status === 'error')) throw new Error(`batch answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`)
      return performance.now() - started
    }
    await post(batch(1_000_000, 0)) // warm-up: JIT, connections
    const ms: number[] = []
    const started = performance.now()
    for (let b = 0; b < BATCHES; b++) {
      // Even batches create new records, odd ones replace the previous batch's.
      const from = Math.floor(b / 2) * SIZE
      ms.push(await post(batch(from, b % 2)))
    }
    const seconds = (performance.now() - started) / 1000
    return {
      batches: BATCHES,
      itemsPerBatch: SIZE,
      p50ms: Math.round(percentile(ms, 50)),
      p99ms: Math.round(percentile(ms, 99)),
      recordsPerSecond: Math.round(BATCHES * SIZE / seconds),
      peakMB: Math.round((await hub.memory()).peak)
    }
  } finally {
    await hub.stop()
    await sandbox.close()
  }
}

if (import.meta.main) await runAlone(benchRecordsBatch)
