// `npm run bench`: every scenario against a fresh embedded PostgreSQL and the sandbox on
// loopback; prints a table and writes bench/results/<date>.json.
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { benchBulkSync } from './bulk-sync.ts'
import { benchDebugLatency } from './debug-latency.ts'
import { benchEndToEnd } from './e2e.ts'
import { benchIngest } from './ingest.ts'
import { benchWebhookLatency } from './webhook-latency.ts'
import { root, startDatabase } from './lib.ts'

const only = process.argv.slice(2)
const scenarios = { ingest: benchIngest, e2e: benchEndToEnd, 'bulk-sync': benchBulkSync, 'debug-latency': benchDebugLatency, 'webhook-latency': async (db: () => Promise<string>) => await benchWebhookLatency(await db()) }
const db = await startDatabase()
const results: Record<string, unknown> = {}
try {
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length && !only.includes(name)) continue
    process.stderr.write(`running ${name} …\n`)
    results[name] = await run(() => db.database())
    process.stderr.write(`${name}: ${JSON.stringify(results[name])}\n`)
  }
} finally {
  await db.stop()
}

const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version }
const r = results as any
const rows: Array<[string, string, string]> = []
if (r.ingest) {
  rows.push(['ingest, single items', `${r.ingest.single.requestsPerSecond} webhooks/s, p50 ${r.ingest.single.p50} ms, p99 ${r.ingest.single.p99} ms`, '≥ 15,000/s, p99 ≤ 50 ms'])
  rows.push(['ingest, 100-item arrays', `${r.ingest.arrays.itemsPerSecond} items/s (${r.ingest.arrays.requestsPerSecond} req/s), p99 ${r.ingest.arrays.p99} ms`, ''])
  rows.push(['naive send() baseline', `${r.ingest.baseline.requestsPerSecond} webhooks/s, p50 ${r.ingest.baseline.p50} ms, p99 ${r.ingest.baseline.p99} ms`, ''])
  rows.push(['ingest ÷ baseline', `${r.ingest.ratio} ×`, '≥ 7 ×'])
}
if (r.e2e) {
  rows.push([`end to end, burst (${r.e2e.burst.processes})`, `${r.e2e.burst.recordsPerSecond} records/s (${r.e2e.burst.records} records, 2 destinations), ${r.e2e.burst.webhooksLost} webhooks lost`, '≥ 1,500/s'])
  rows.push([`end to end at ${r.e2e.steady.offeredPerSecond}/s offered`, `p50 ${r.e2e.steady.p50} ms, p99 ${r.e2e.steady.p99} ms, ${r.e2e.steady.webhooksLost} webhooks lost`, 'p99 ≤ 1 s, 0 lost'])
}
if (r['bulk-sync']) {
  for (const u of r['bulk-sync'].uploads) {
    rows.push([`${u.ids.toLocaleString('en')} ids via POST /v1/sync`, `${u.seconds} s, ${u.jobRows.toLocaleString('en')} job rows after it, hub peak ${u.peakMB} MB`, u.ids >= 1_000_000 ? '≤ 10 s, ≤ 150 MB' : '≤ 1 s'])
  }
}
if (r['bulk-sync']) rows.push([`${r['bulk-sync'].pipeline.ids} ids via POST /v1/sync, processed and delivered`, `${r['bulk-sync'].pipeline.seconds} s, ${r['bulk-sync'].pipeline.recordsPerSecond} records/s to 2 destinations, counts exact`, ''])
if (r['debug-latency']) rows.push(['debug job start, 100,000 ids of a manual sync queued ahead', `p50 ${r['debug-latency'].p50} ms, p99 ${r['debug-latency'].p99} ms`, 'p99 ≤ 50 ms'])
if (r['webhook-latency']) rows.push(['webhook answer p99 while saturated, npm start default', `p50 ${r['webhook-latency'].p50} ms, p99 ${r['webhook-latency'].p99} ms, max ${r['webhook-latency'].max} ms, ${r['webhook-latency'].webhooksLost} of ${r['webhook-latency'].sent} lost`, '≤ 200 ms'])

const width = rows.reduce((w, row) => row.map((c, i) => Math.max(w[i], c.length)), [8, 6, 4])
const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(width[i])).join(' | ') + ' |'
console.log(line(['scenario', 'result', 'goal']))
console.log('|' + width.map(w => '-'.repeat(w + 2)).join('|') + '|')
for (const row of rows) console.log(line(row))
console.log(`\n${machine.cpus} × ${machine.cpu}, ${machine.memoryGB} GB, Node ${machine.node}`)

await mkdir(join(root, 'bench/results'), { recursive: true })
const file = join(root, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
await writeFile(file, JSON.stringify({ at: new Date().toISOString(), machine, results }, null, 2) + '\n')
console.log(`results: ${file}`)
