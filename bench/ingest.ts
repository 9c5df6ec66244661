// Scenario 1: accepted webhooks per second (202 only after commit) and latency, against the
// naive one-send()-per-request baseline.
import { spawn } from 'node:child_process'
import autocannon from 'autocannon'
import { freePort } from '../src/net/free-port.ts'
import { waitUntil } from '../src/wait-until.ts'
import { benchConfig, root, sandboxFor, startHub } from './lib.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)

async function load (url: string, body: (i: number) => unknown, headers: Record<string, string>) {
  let i = 0
  const result = await autocannon({
    url,
    method: 'POST',
    connections: 100,
    duration: DURATION,
    headers: { 'content-type': 'application/json', ...headers },
    requests: [{ setupRequest: (req: any) => ({ ...req, body: JSON.stringify(body(i++)) }) }]
  })
  return {
    requestsPerSecond: Math.round(result['2xx'] / DURATION),
    non2xx: result.non2xx,
    errors: result.errors,
    p50: result.latency.p50,
    p99: result.latency.p99
  }
}

export async function benchIngest (databaseUrl: () => Promise<string>) {
  const { sandbox, env } = await sandboxFor()
  const key = env.SHOP_WEBHOOK_KEY
  const hub = await startHub({ ...env, DATABASE_URL: await databaseUrl(), HUB_ROLE: 'api', HUB_CONFIG: await benchConfig() })
  const hooks = `${hub.url}/v1/hooks/shop`
  const single = await load(hooks, i => ({ scope: 'customer/update', id: `c${i}` }), { authorization: `Bearer ${key}` })
  const arrays = await load(hooks, i => Array.from({ length: 100 }, (_, j) => ({ scope: 'customer/update', id: `a${i}-${j}` })), { authorization: `Bearer ${key}` })
  await hub.stop()

  const port = await freePort()
  const naive = spawn(process.execPath, ['bench/naive-server.ts'], { cwd: root, stdio: 'ignore', env: { PATH: process.env.PATH, DATABASE_URL: await databaseUrl(), PORT: String(port) } })
  const naiveUrl = `http://127.0.0.1:${port}/hooks`
  await waitUntil('the naive server', async () => (await fetch(naiveUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"scope":"x","id":"0"}' }).catch(() => undefined))?.status === 202)
  const baseline = await load(naiveUrl, i => ({ scope: 'customer/update', id: `n${i}` }), {})
  naive.kill('SIGTERM')
  await sandbox.close()
  return {
    single,
    arrays: { ...arrays, itemsPerSecond: arrays.requestsPerSecond * 100 },
    baseline,
    ratio: Number((single.requestsPerSecond / baseline.requestsPerSecond).toFixed(2))
  }
}
