// Shared pieces of the benchmarks: an embedded PostgreSQL, a hub process, the sandbox.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import YAML from 'yaml'
import { exampleEnv, startSandbox } from '../sandbox/index.ts'
import type { Sandbox } from '../sandbox/index.ts'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { heapFlags } from '../src/heap.ts'
import { freePort } from '../src/net/free-port.ts'
import { waitUntil } from '../src/wait-until.ts'

export const root = fileURLToPath(new URL('../', import.meta.url))
export const ADMIN_KEY = 'bench-admin-key-0123456789'
export const auth = { authorization: `Bearer ${ADMIN_KEY}` }

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

export function percentile (values: number[], p: number): number {
  if (!values.length) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

/** A fresh embedded PostgreSQL for one benchmark run; one database per scenario. */
export async function startDatabase () {
  const dir = await mkdtemp(join(tmpdir(), 'hub-bench-'))
  const server = await startEmbeddedPostgres(dir)
  let n = 0
  return {
    async database (): Promise<string> {
      const name = `bench_${process.pid}_${n++}`
      const client = new pg.Client(server.url)
      await client.connect()
      await client.query(`CREATE DATABASE ${name}`)
      await client.end()
      const url = new URL(server.url)
      url.pathname = '/' + name
      return url.toString()
    },
    async stop () {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The example config with throttles opened up (maxConcurrent 100, the most a system may have):
 * the sandbox answers in microseconds, so the
 * benchmarks measure the hub rather than the example's polite limits.
 */
export async function benchConfig (): Promise<string> {
  const doc = YAML.parse(await readFile(join(root, 'examples/hub.config.yaml'), 'utf8'), { merge: true })
  for (const system of doc.systems) system.throttle = { maxConcurrent: 100 }
  const file = join(await mkdtemp(join(tmpdir(), 'hub-bench-config-')), 'hub.yaml')
  await writeFile(file, YAML.stringify(doc))
  return file
}

export interface HubProcess {
  url: string
  child: ChildProcess
  /** Resident memory now, and its peak so far (VmHWM), in MB, of the hub's processes together
   *  and of each (the hub's own first, then its worker processes). */
  memory (): Promise<{ rss: number, peak: number, processes: Array<{ rss: number, peak: number }> }>
  stop (): Promise<void>
}

export async function startHub (env: Record<string, string>): Promise<HubProcess> {
  const port = await freePort()
  // BENCH_CPU_PROF=<dir>: the hub writes a V8 CPU profile there when it exits (bench/profile-summary.ts reads it).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  // The heap flags `npm start` gives the hub, unless BENCH_NODE_OPTIONS chooses its own.
  const child = spawn(process.execPath, [...profile, ...heapFlags([], process.env.BENCH_NODE_OPTIONS), 'src/server.ts'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    // BENCH_NODE_OPTIONS: Node options for every hub process (a heap cap: --max-old-space-size=N).
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', HUB_ADMIN_KEY: ADMIN_KEY, PORT: String(port), ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}), ...env }
  })
  const url = `http://127.0.0.1:${port}`
  await waitUntil('the hub to be ready', async () => (await fetch(url + '/ready').catch(() => undefined))?.status === 200, { timeoutMs: 60_000 })
  return {
    url,
    child,
    async memory () {
      // The hub is its process and, in `all` mode, its worker processes: their sum (for peaks
      // an upper bound, since they need not peak at once).
      const pids = [child.pid!, ...(await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '')).split(' ').filter(Boolean).map(Number)]
      const processes = await Promise.all(pids.map(async pid => {
        const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
        const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
        return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
      }))
      return { rss: processes.reduce((n, p) => n + p.rss, 0), peak: processes.reduce((n, p) => n + p.peak, 0), processes }
    },
    async stop () {
      child.kill('SIGTERM')
      await new Promise(resolve => child.once('exit', resolve))
    }
  }
}

/** Sandbox plus the environment the example config needs. */
export async function sandboxFor (): Promise<{ sandbox: Sandbox, env: Record<string, string> }> {
  const sandbox = await startSandbox()
  return { sandbox, env: exampleEnv(sandbox) }
}

/** A scenario run by itself (`node bench/<file>.ts`): on a database of its own, figures printed as JSON. */
export async function runAlone (scenario: (databaseUrl: string) => Promise<unknown>): Promise<void> {
  const database = await startDatabase()
  try {
    console.log(JSON.stringify(await scenario(await database.database()), null, 2))
  } finally {
    await database.stop()
  }
}
