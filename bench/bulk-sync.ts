// Scenario 3: 100,000 and 1,000,000 ids through POST /v1/sync (a streamed CSV): time until the
// upload is answered (the ids stored, the first of them jobs), the server's memory, and the job
// table's rows after it. Then the whole door at 10,000 ids: the batch processed and delivered to
// two destinations, its counts exact (test/sync.test.ts shows the same at 200).
import { Readable } from 'node:stream'
import pg from 'pg'
import { waitUntil } from '../src/wait-until.ts'
import { auth, benchConfig, sandboxFor, sleep, startHub } from './lib.ts'

const SIZES = (process.env.BENCH_SYNC_IDS ?? '100000,1000000').split(',').map(Number)
const PIPELINE_IDS = Number(process.env.BENCH_SYNC_PIPELINE_IDS ?? 10_000)

/** `prefix0`, `prefix1`, ... */
export function * numbered (count: number, prefix: string): Generator<string> {
  for (let i = 0; i < count; i++) yield `${prefix}${i}`
}

/** A CSV of the ids, generated as it is sent. */
function csv (ids: Iterable<string>): Readable {
  const next = ids[Symbol.iterator]()
  let header = true
  return new Readable({
    read () {
      const lines = header ? ['id'] : []
      header = false
      for (let n = 0; n < 5_000; n++) {
        const id = next.next()
        if (id.done) break
        lines.push(id.value)
      }
      this.push(lines.length ? lines.join('\n') + '\n' : null)
    }
  })
}

export async function postCsv (url: string, ids: Iterable<string>): Promise<{ ms: number, receipt: any }> {
  const started = performance.now()
  const res = await fetch(`${url}/v1/sync?system=shop&scope=customer/update`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'text/csv' },
    body: Readable.toWeb(csv(ids)) as ReadableStream,
    duplex: 'half'
  } as RequestInit)
  const receipt = await res.json()
  if (res.status !== 202) throw new Error(`POST /v1/sync answered ${res.status}: ${JSON.stringify(receipt)}`)
  return { ms: performance.now() - started, receipt }
}

async function queuing (databaseUrl: string) {
  const { sandbox, env } = await sandboxFor()
  // API role: the time to queue, without workers draining the queue at the same time.
  const hub = await startHub({ ...env, DATABASE_URL: databaseUrl, HUB_ROLE: 'api', HUB_CONFIG: await benchConfig() })
  const db = new pg.Client(databaseUrl)
  await db.connect()
  try {
    await postCsv(hub.url, numbered(1_000, 'warm')) // first-request costs (JIT, connections) out of the way
    await sleep(500)
    const before = await hub.memory()
    const uploads = []
    for (const ids of SIZES) {
      const { ms, receipt } = await postCsv(hub.url, numbered(ids, `bulk${ids}-`))
      const { rows: [{ n }] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pgboss.job')
      uploads.push({
        ids,
        queued: receipt.queued,
        seconds: Number((ms / 1000).toFixed(2)),
        idsPerSecond: Math.round(ids / (ms / 1000)),
        // Every row of the job table after this upload (the warm-up's and earlier uploads' included).
        jobRows: n,
        peakMB: Math.round((await hub.memory()).peak)
      })
    }
    return { rssBeforeMB: Math.round(before.rss), uploads }
  } finally {
    await db.end()
    await hub.stop()
    await sandbox.close()
  }
}

/** Shop customers synced as one batch by a hub with its workers, until the batch is finished. */
async function throughPipeline (databaseUrl: string) {
  const { sandbox, env } = await sandboxFor()
  const ids = Array.from({ length: PIPELINE_IDS }, (_, i) => sandbox.shop.put('customer', { email: `sync${i}@example.com`, first_name: `S${i}` }).id)
  const hub = await startHub({ ...env, DATABASE_URL: databaseUrl, HUB_ROLE: 'all', HUB_CONFIG: await benchConfig() })
  try {
    const started = performance.now()
    const { receipt } = await postCsv(hub.url, ids)
    const status = await waitUntil('the batch to finish', async () => {
      const s = await (await fetch(`${hub.url}/v1/sync/${receipt.batchId}`, { headers: auth })).json()
      return s.finished && s
    }, { timeoutMs: 3_600_000, everyMs: 500 })
    const seconds = (performance.now() - started) / 1000
    const counts = {
      queued: receipt.queued,
      completed: status.counts.completed,
      failed: status.counts.failed + status.deliveries.failed,
      delivered: status.deliveries.completed,
      crm: sandbox.crm.all('customer').length,
      erp: sandbox.erp.all('customer').length
    }
    const n = PIPELINE_IDS
    const expected = { queued: n, completed: n, failed: 0, delivered: 2 * n, crm: n, erp: n }
    if (JSON.stringify(counts) !== JSON.stringify(expected)) throw new Error(`counts off: ${JSON.stringify(counts)}, expected ${JSON.stringify(expected)}`)
    return { ids: n, seconds: Number(seconds.toFixed(1)), recordsPerSecond: Math.round(n / seconds), countsExact: true }
  } finally {
    await hub.stop()
    await sandbox.close()
  }
}

export async function benchBulkSync (databaseUrl: () => Promise<string>) {
  return { ...await queuing(await databaseUrl()), pipeline: await throughPipeline(await databaseUrl()) }
}
