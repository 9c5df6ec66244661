// The default `all` mode as a user runs it: the API in one process, the workers in a child
// process of it, so that a busy (here: frozen) worker cannot hold up a webhook's answer. The
// child is restarted when it crashes and never outlives its parent.
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import t from 'tap'
import type { Test } from 'tap'
import { exampleEnv, startSandbox } from '../sandbox/index.ts'
import { HEAP_FLAGS } from '../src/heap.ts'
import { testDatabase } from './helpers/db.ts'
import { exampleConfig, waitFor } from './helpers/pipeline.ts'
import { childrenOf, running, startHubProcess } from './helpers/process.ts'

/** The JSON log lines of the hub's stdout (its worker processes write there too). */
const logLines = (out: string) => out.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l))

async function startAll (t: Test, env: Record<string, string> = {}) {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const sandboxEnv = exampleEnv(sandbox)
  const databaseUrl = await testDatabase(t)
  const hub = await startHubProcess(t, {
    DATABASE_URL: databaseUrl,
    HUB_ADMIN_KEY: 'an-admin-key-for-tests',
    HUB_CONFIG: exampleConfig,
    HUB_SHUTDOWN_GRACE_MS: '1000',
    ...sandboxEnv,
    ...env
  })
  sandbox.shop.emitTo({ url: hub.url + '/v1/hooks/shop', key: sandboxEnv.SHOP_WEBHOOK_KEY })
  return { sandbox, hub, databaseUrl }
}

t.test('/ready answers 503 from the moment the API listens until its worker process runs', async t => {
  const child = spawn(process.execPath, ['src/server.ts'], {
    cwd: fileURLToPath(new URL('../', import.meta.url)),
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', DATABASE_URL: await testDatabase(t), HUB_ADMIN_KEY: 'an-admin-key-for-tests', HUB_SHUTDOWN_GRACE_MS: '1000' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', d => { out += d })
  // Fastify's own line comes as the port opens, before the worker process is forked.
  const url = await waitFor(() => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1], 30_000, 'the API to listen')
  const first = await fetch(url + '/ready')
  t.equal(first.status, 503, 'not ready while the worker process starts')
  await waitFor(async () => (await fetch(url + '/ready')).status === 200, 30_000, 'ready once it runs')
  t.match(out, /"msg":"worker process started"/, 'by then the worker process runs')
  child.kill('SIGTERM')
  t.equal(await new Promise(resolve => child.once('exit', resolve)), 0)
})

t.test('the workers run in a child process: a frozen worker delays no webhook, a crashed one is restarted', async t => {
  const { sandbox, hub, databaseUrl } = await startAll(t)
  const db = new pg.Client(databaseUrl)
  await db.connect()
  t.teardown(() => db.end())
  // The monitoring views are the parent's to set up: a worker process starting leaves them be.
  const viewOid = async () => (await db.query("SELECT 'hub.queue_depth'::regclass::oid AS oid")).rows[0].oid
  const views = await viewOid()
  const [worker] = await childrenOf(hub.child.pid!)
  t.same(await childrenOf(hub.child.pid!), [worker], 'one worker process')
  const argv = (await readFile(`/proc/${worker}/cmdline`, 'utf8')).split('\0')
  t.ok(HEAP_FLAGS.every(f => argv.includes(f)), 'the worker process runs with the heap flags')

  // Frozen, the worker takes no job; the API, a process of its own, still answers at once.
  process.kill(worker, 'SIGSTOP')
  sandbox.shop.put('customer', { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace' })
  await sandbox.shop.flushWebhooks()
  t.equal(sandbox.shop.emitErrors, 0, 'the webhook was answered 2xx while the worker was frozen')
  process.kill(worker, 'SIGCONT')
  await waitFor(() => sandbox.crm.all('customer').length === 1, 30_000, 'the worker to deliver once it runs again')
  // The worker process has no port: the API serves its counters with its own. The CRM has its
  // create before the job that sent it is counted completed: wait for that.
  const readMetrics = async () => await (await fetch(hub.url + '/metrics', { headers: { authorization: 'Bearer an-admin-key-for-tests' } })).text()
  const metrics = await waitFor(async () => { const m = await readMetrics(); return m.includes('queue="outbound",system="crm",outcome="completed"') && m }, 30_000, 'the delivery to be counted')
  t.match(metrics, /hub_jobs_total\{queue="outbound",system="crm",outcome="completed"\} 1\n/, "/metrics counts the worker process's jobs")
  t.match(metrics, /hub_webhooks_total\{system="shop",outcome="accepted"\} 1\n/, 'and the API process\'s webhooks')

  process.kill(worker, 'SIGKILL')
  const restarted = await waitFor(async () => (await childrenOf(hub.child.pid!)).find(pid => pid !== worker), 30_000, 'a new worker process')
  t.ok(restarted, 'a new worker process was started')
  const crash = hub.stdout().split('\n').find(line => line.includes('worker process exited; restarting it'))
  t.match(JSON.parse(crash!), { level: 50, childPid: worker, signal: 'SIGKILL', restartInMs: 1000 }, 'the crash is logged as JSON')
  await waitFor(async () => (await fetch(hub.url + '/ready')).status === 200, 30_000, 'ready again')
  t.equal(await viewOid(), views, 'the restarted worker process did not drop and re-create the views')
  sandbox.shop.put('customer', { email: 'grace@example.com', first_name: 'Grace', last_name: 'Hopper' })
  await waitFor(() => sandbox.crm.all('customer').length === 2, 30_000, 'the new worker to deliver')

  t.equal(await hub.stop(), 0, 'SIGTERM stops the hub cleanly')
  t.notOk(await running(restarted!), 'and its worker process')
  const lines = hub.stdout().split('\n')
  const order = ['"shutting down"', '"worker process shutting down"'].map(msg => lines.findIndex(l => l.includes(msg)))
  t.ok(order[0] >= 0 && order[1] > order[0], 'the API stopped first, then the worker')
  const logged = logLines(hub.stdout())
  t.match(logged.find(l => l.msg === 'worker process shutting down'), { pid: restarted, reason: 'the hub process is stopping (SIGTERM)' }, 'the worker says why it stops')
  t.ok(logged.some(l => l.msg === 'worker process stopped' && l.pid === restarted), 'and that it stopped')
  t.match(logged.at(-1), { pid: hub.child.pid, level: 30, msg: 'hub stopped' }, 'the last line: the hub stopped, everything closed')
})

t.test('HUB_WORKERS worker processes, none outliving a SIGKILLed parent', async t => {
  const { hub } = await startAll(t, { HUB_WORKERS: '2' })
  const workers = await childrenOf(hub.child.pid!)
  t.equal(workers.length, 2, 'two worker processes')
  hub.child.kill('SIGKILL')
  await hub.stop()
  for (const pid of workers) {
    await t.resolves(waitFor(async () => !await running(pid), 30_000, `worker ${pid} to exit`), `worker ${pid} exited with its parent`)
    const stopping = await waitFor(() => logLines(hub.stdout()).find(l => l.pid === pid && l.msg === 'worker process shutting down'), 30_000, `worker ${pid}'s last lines`)
    t.match(stopping, { reason: 'the hub process is gone' }, 'it says its parent is gone')
  }
})

t.test('HUB_WORKERS=0: one process serves the API and runs the workers', async t => {
  const { sandbox, hub } = await startAll(t, { HUB_WORKERS: '0' })
  t.same(await childrenOf(hub.child.pid!), [], 'no worker process')
  t.match(logLines(hub.stdout()).find(l => l.msg === 'hub started'), { role: 'all', workerProcesses: 0 })
  t.equal((await fetch(hub.url + '/ready')).status, 200)
  sandbox.shop.put('customer', { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace' })
  await waitFor(() => sandbox.crm.all('customer').length === 1, 30_000, 'the delivery, by the same process')
  t.equal(await hub.stop(), 0, 'SIGTERM stops it cleanly')
  t.match(logLines(hub.stdout()).at(-1), { pid: hub.child.pid, msg: 'hub stopped' })
})
