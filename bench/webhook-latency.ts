// Scenario: how long a webhook waits for its answer while the pipeline is saturated, with the
// hub as `npm start` runs it (HUB_ROLE=all). A burst of changes in the sandbox shop fills the
// queues; meanwhile a separate sender posts one webhook every 1/RATE s for SECONDS and times each
// answer. The jobs still pending at the end show the pipeline was saturated all along.
// A webhook is lost when it gets no 2xx within the sender's 10 s timeout (the sandbox shop's).
// The sender runs on a thread of its own, so the sandbox's work does not delay its clock.
import { loadavg } from 'node:os'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import pg from 'pg'
import { benchConfig, percentile, runAlone, sandboxFor, sleep, startHub } from './lib.ts'

const BURST = Number(process.env.BENCH_WEBHOOK_BURST ?? 5000)
const RATE = Number(process.env.BENCH_WEBHOOK_RATE ?? 50)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const TIMEOUT_MS = 10_000

interface Probe { url: string, key: string, ids: string[], rate: number }
interface Answer { ms: number, ok: boolean }

/** The sender's thread: posts at `rate` until told to stop, then hands back every answer. */
async function probe ({ url, key, ids, rate }: Probe): Promise<void> {
  let stopping = false
  parentPort!.once('message', () => { stopping = true })
  const answers: Promise<Answer>[] = []
  const start = performance.now()
  for (let i = 0; !stopping; i++) {
    const sent = performance.now()
    answers.push(fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ scope: 'customer/update', id: ids[i % ids.length] }),
      signal: AbortSignal.timeout(TIMEOUT_MS)
    }).then(async res => {
      await res.arrayBuffer()
      return { ms: performance.now() - sent, ok: res.ok }
    }, () => ({ ms: performance.now() - sent, ok: false })))
    await sleep(Math.max(0, start + (i + 1) * 1000 / rate - performance.now()))
  }
  parentPort!.postMessage(await Promise.all(answers))
}

export async function benchWebhookLatency (url: string) {
  const { sandbox, env } = await sandboxFor()
  const hub = await startHub({ ...env, DATABASE_URL: url, HUB_CONFIG: await benchConfig() })
  const db = new pg.Client(url)
  await db.connect()
  try {
    sandbox.shop.emitTo({ url: `${hub.url}/v1/hooks/shop`, key: env.SHOP_WEBHOOK_KEY })
    const ids: string[] = []
    for (let i = 0; i < BURST; i++) {
      ids.push(sandbox.shop.put('customer', { email: `latency${i}@example.com`, first_name: `L${i}`, last_name: 'Bench' }).id)
      if (i % 100 === 99) await sleep(0)
    }
    // The probe names records of the burst: real work for the pipeline, as a shop's next change.
    const sender = new Worker(new URL(import.meta.url), { workerData: { url: `${hub.url}/v1/hooks/shop`, key: env.SHOP_WEBHOOK_KEY, ids: ids.slice(0, 500), rate: RATE } })
    const answered = new Promise<Answer[]>((resolve, reject) => { sender.once('message', resolve); sender.once('error', reject) })
    await sleep(SECONDS * 1000)
    sender.postMessage('stop')
    const answers = await answered
    await sender.terminate()
    await sandbox.shop.flushWebhooks()
    const { rows: [{ n: pending }] } = await db.query<{ n: number }>("SELECT coalesce(sum(jobs), 0)::int AS n FROM hub.queue_depth WHERE queue IN ('inbound', 'outbound')")
    const ms = answers.map(a => a.ms)
    const round = (n: number) => Math.round(n)
    return {
      burst: BURST,
      burstWebhooksLost: sandbox.shop.emitErrors,
      seconds: SECONDS,
      pendingAtEnd: pending,
      offeredPerSecond: RATE,
      sent: answers.length,
      webhooksLost: answers.filter(a => !a.ok).length,
      p50: round(percentile(ms, 50)),
      p99: round(percentile(ms, 99)),
      max: round(Math.max(...ms)),
      // The machine is shared: how busy it was over the last minute of the run.
      loadAverage: loadavg()[0]
    }
  } finally {
    await db.end()
    await hub.stop()
    await sandbox.close()
  }
}

if (!isMainThread) await probe(workerData as Probe)
else if (import.meta.main) await runAlone(benchWebhookLatency)
