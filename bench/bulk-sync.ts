// Scenario 3: 100,000 ids through POST /v1/sync (a streamed CSV): time until all are queued,
// and the server's memory growth.
import { Readable } from 'node:stream'
import { auth, benchConfig, sandboxFor, sleep, startHub } from './lib.ts'

const IDS = Number(process.env.BENCH_SYNC_IDS ?? 100_000)

/** A CSV of `count` ids, generated as it is sent. */
function csv (count: number, prefix: string): Readable {
  let i = 0
  return new Readable({
    read () {
      if (i === 0) this.push('id\n')
      const lines = []
      for (let n = 0; n < 5_000 && i < count; n++, i++) lines.push(`${prefix}${i}`)
      this.push(lines.length ? lines.join('\n') + '\n' : null)
    }
  })
}

export async function postCsv (url: string, count: number, prefix: string): Promise<{ ms: number, receipt: any }> {
  const started = performance.now()
  const res = await fetch(`${url}/v1/sync?system=shop&scope=customer/update`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'text/csv' },
    body: Readable.toWeb(csv(count, prefix)) as ReadableStream,
    duplex: 'half'
  } as RequestInit)
  const receipt = await res.json()
  if (res.status !== 202) throw new Error(`POST /v1/sync answered ${res.status}: ${JSON.stringify(receipt)}`)
  return { ms: performance.now() - started, receipt }
}

export async function benchBulkSync (databaseUrl: () => Promise<string>) {
  const { sandbox, env } = await sandboxFor()
  // API role: the time to queue, without workers draining the queue at the same time.
  const hub = await startHub({ ...env, DATABASE_URL: await databaseUrl(), HUB_ROLE: 'api', HUB_CONFIG: await benchConfig() })
  await postCsv(hub.url, 1_000, 'warm') // first-request costs (JIT, connections) out of the way
  await sleep(500)
  const before = await hub.memory()
  const { ms, receipt } = await postCsv(hub.url, IDS, 'bulk')
  const after = await hub.memory()
  await hub.stop()
  await sandbox.close()
  return {
    ids: IDS,
    queued: receipt.queued,
    seconds: Number((ms / 1000).toFixed(2)),
    idsPerSecond: Math.round(IDS / (ms / 1000)),
    rssBeforeMB: Math.round(before.rss),
    peakMB: Math.round(after.peak),
    growthMB: Math.round(after.peak - before.rss)
  }
}
