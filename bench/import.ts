// CSV import (seed 002) at its size limit: a ~50 MB customer file (300,000 rows) uploaded to
// POST /v1/imports and run by the hub's import worker, with the example's CRM and ERP subscribed.
// Reports the upload, the rows per second into canonical records, the hub's peak memory, and the
// time until every outbound job is queued (fan-out is written with each chunk, so: until the
// import is finished). `node bench/import.ts`; BENCH_IMPORT_ROWS to change the size,
// BENCH_IMPORT_WORKERS=0 for the one-process hub (HUB_WORKERS=0).
import { createWriteStream, openAsBlob } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import pg from 'pg'
import { auth, benchConfig, runAlone, sandboxFor, sleep, startHub } from './lib.ts'

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 300_000)
// Without destinations the import alone is measured: with them, the same process also delivers
// what the import fans out, and the two share its one thread.
const DESTINATIONS = process.env.BENCH_IMPORT_DESTINATIONS !== '0'
const WORKERS = process.env.BENCH_IMPORT_WORKERS ?? '1'

async function writeCsv (file: string, rows: number): Promise<void> {
  const out = createWriteStream(file)
  out.write('email_address,first_name,last_name,company,comment,addresses[0].address_1,addresses[0].city,addresses[0].postal_code,addresses[0].country\n')
  for (let i = 0; i < rows; i++) {
    const line = `customer${i}@example.com,First${i},Lastname${i},Company number ${i % 5000} Ltd,Imported by the benchmark row ${i},${i} Long Street Name,Springfield ${i % 100},${10000 + (i % 89999)},GB\n`
    if (!out.write(line)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

export async function benchImport (databaseUrl: string) {
  const dir = await mkdtemp(join(tmpdir(), 'hub-bench-import-'))
  const file = join(dir, 'customers.csv')
  await writeCsv(file, ROWS)
  const bytes = (await stat(file)).size
  const { sandbox, env } = await sandboxFor()
  const hub = await startHub({ ...env, DATABASE_URL: databaseUrl, HUB_ROLE: 'all', HUB_WORKERS: WORKERS, ...(DESTINATIONS ? { HUB_CONFIG: await benchConfig() } : {}) })
  try {
    const before = await hub.memory()
    const form = new FormData()
    form.append('type', 'customer')
    form.append('file', await openAsBlob(file), 'customers.csv')
    const started = performance.now()
    const res = await fetch(`${hub.url}/v1/imports`, { method: 'POST', headers: auth, body: form })
    const receipt = await res.json() as { id: string, total: number }
    if (res.status !== 202) throw new Error(`POST /v1/imports answered ${res.status}: ${JSON.stringify(receipt)}`)
    const uploaded = performance.now()
    let status: any
    for (;;) {
      status = await (await fetch(`${hub.url}/v1/imports/${receipt.id}`, { headers: auth })).json()
      if (status.status === 'finished' || status.status === 'error') break
      await sleep(500)
    }
    const finished = performance.now()
    const after = await hub.memory()
    const db = new pg.Client(databaseUrl)
    await db.connect()
    const jobs = (await db.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'outbound'")).rows[0].n
    await db.end()
    if (status.status !== 'finished' || status.success !== ROWS || jobs !== (DESTINATIONS ? 2 * ROWS : 0)) throw new Error(`counts off: ${JSON.stringify({ status: status.status, success: status.success, errors: status.errors, jobs })}`)
    const importSeconds = (finished - uploaded) / 1000
    return {
      destinations: DESTINATIONS ? 2 : 0,
      workerProcesses: Number(WORKERS),
      rows: ROWS,
      fileMB: Number((bytes / 1024 / 1024).toFixed(1)),
      uploadSeconds: Number(((uploaded - started) / 1000).toFixed(1)),
      importSeconds: Number(importSeconds.toFixed(1)),
      rowsPerSecond: Math.round(ROWS / importSeconds),
      secondsUntilOutboundQueued: Number(((finished - started) / 1000).toFixed(1)),
      outboundJobs: jobs,
      rssBeforeMB: Math.round(before.rss),
      peakMB: Math.round(after.peak),
      // In `all` mode: the API process that takes the upload, then the worker process that runs it.
      peakMBByProcess: after.processes.map(p => Math.round(p.peak))
    }
  } finally {
    await hub.stop()
    await sandbox.close()
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) await runAlone(benchImport)
