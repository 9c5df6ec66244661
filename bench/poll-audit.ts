// Pull sync, audit mode, over a source of 100,000 records (README: Pull sync): the time and
// memory of a full run (every record new) and of a run after 1,000 changes. The run is called
// in this process (no workers, so the inbound jobs it queues wait and cost nothing); the source
// runs in a child process, so the memory measured is the hub's alone.
//   node bench/poll-audit.ts            BENCH_POLL_RECORDS=100000 BENCH_POLL_CHANGES=1000
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import pino from 'pino'
import { startStockroom } from '../sandbox/pull-sources.ts'
import { parseEnv } from '../src/config/env.ts'
import { startHub } from '../src/hub.ts'
import { createPipelineContext } from '../src/pipeline/create-context.ts'
import { runPoll } from '../src/poll/run.ts'
import { startDatabase } from './lib.ts'

const RECORDS = Number(process.env.BENCH_POLL_RECORDS ?? 100_000)
const CHANGES = Number(process.env.BENCH_POLL_CHANGES ?? 1_000)
const PAGE = 1_000

// The child: the stockroom, seeded and changed on request.
if (process.argv[2] === '--source') {
  const stock = await startStockroom()
  const product = (i: number, title = `Product ${i}`) => ({ sku: `SKU${i}`, title, price: i % 997, qty: i % 50 })
  process.on('message', (m: { seed?: number, change?: number }) => {
    if (m.seed) for (let i = 0; i < m.seed; i++) stock.put(`P${i}`, product(i))
    if (m.change) for (let i = 0; i < m.change; i++) stock.put(`P${i * 37 % RECORDS}`, product(i * 37 % RECORDS, 'Changed'))
    process.send!({ url: stock.url, count: stock.count() })
  })
  process.send!({ url: stock.url, count: 0 })
} else {
  await main()
}

function ask (child: ChildProcess, message: object): Promise<{ url: string, count: number }> {
  return new Promise(resolve => { child.once('message', resolve); if (Object.keys(message).length) child.send(message) })
}

async function main () {
  const child = fork(new URL(import.meta.url).pathname, ['--source'], { stdio: 'inherit' })
  const { url } = await ask(child, {})
  await ask(child, { seed: RECORDS })
  const db = await startDatabase()
  const log = pino({ level: 'error' })
  const hub = await startHub(parseEnv({ DATABASE_URL: await db.database(), LOG_LEVEL: 'warn' }), { log })
  try {
    await hub.systems.put('stockroom', {
      id: 'stockroom',
      baseUrl: url,
      allowPrivateNetwork: true,
      types: { product: { list: { path: '/products', itemsPath: 'items', paging: { kind: 'next', path: 'next', param: 'after' }, pageSize: PAGE, pageSizeParam: 'limit' } } },
      flows: [{
        type: 'product',
        direction: 'inbound',
        mappings: [{ kind: 'field', from: 'sku', to: 'sku' }, { kind: 'field', from: 'title', to: 'name' }],
        // No batch limit in the way: the benchmark is the whole diff.
        poll: { mode: 'audit', fullRecords: true, batchLimit: 100_000 }
      }]
    }, 'api')
    const ctx = createPipelineContext(hub.pool, { ...hub, log })

    const measure = async (label: string) => {
      global.gc?.()
      const base = process.memoryUsage()
      let heap = base.heapUsed
      let rss = base.rss
      const sampler = setInterval(() => {
        const m = process.memoryUsage()
        heap = Math.max(heap, m.heapUsed)
        rss = Math.max(rss, m.rss)
      }, 20)
      const started = performance.now()
      const report = await runPoll(ctx, crypto.randomUUID(), { system: 'stockroom', type: 'product' })
      const seconds = (performance.now() - started) / 1000
      clearInterval(sampler)
      if (report.error) throw new Error(report.error)
      const mb = (n: number) => (n / 1024 / 1024).toFixed(0)
      console.log(`${label}: ${report.seen} records listed in ${report.pages} pages, ${report.enqueued} queued, ${report.deleted} deleted: ` +
        `${seconds.toFixed(1)} s (${Math.round(report.seen / seconds)} records/s); heap ${mb(base.heapUsed)} MB before, peak ${mb(heap)} MB; RSS peak ${mb(rss)} MB`)
    }
    await measure(`full run over ${RECORDS} records`)
    await ask(child, { change: CHANGES })
    await measure(`run after ${CHANGES} changes`)
    await measure('run with nothing changed')
  } finally {
    child.kill()
    await hub.close()
    await db.stop()
  }
}
