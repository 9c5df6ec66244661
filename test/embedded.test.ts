import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ROOT_CLUSTERS } from '../src/db/embedded.ts'
import { runHubExpectingExit, startHubProcess } from './helpers/process.ts'

// One data directory for the file (initdb once); every test leaves it with nothing running.
const dataDir = await mkdtemp(join(tmpdir(), 'hub-data-'))
t.teardown(() => rm(dataDir, { recursive: true, force: true }))
// A key set up front: no generated-key announcement shares stderr with the one-line errors.
const env = { HUB_DATA_DIR: dataDir, HUB_ADMIN_KEY: 'an-admin-key-for-tests' }

/** Nothing of a hub is left on the data directory: no postgres, no lock. */
async function leftBehind (): Promise<string[]> {
  const top = (await readdir(dataDir)).filter(f => f.startsWith('hub.pid'))
  const pg = (await readdir(join(dataDir, 'pg')).catch(() => [])).filter(f => f === 'postmaster.pid')
  return [...top, ...pg]
}

t.test('a second hub on the same data directory is refused and the first keeps its database', async t => {
  const first = await startHubProcess(t, env)
  const { code, stderr } = await runHubExpectingExit({ ...env, PORT: '0' })
  t.equal(code, 2)
  t.equal(stderr.trim().split('\n').length, 1, 'exactly one line')
  t.match(stderr, `the data directory ${dataDir} is in use by the hub with pid ${first.child.pid}; to run another hub, set HUB_DATA_DIR to another directory, or DATABASE_URL to the first hub's database (postgres://hub:***@127.0.0.1:`)
  t.equal((await fetch(first.url + '/ready')).status, 200, 'the first hub and its database are still up')
  t.equal(await first.stop(), 0)
  t.same(await leftBehind(), [], 'the first hub stopped its database and released the directory')
})

t.test('a SIGKILLed hub leaves a stale lock and a running database: the next start adopts both', async t => {
  const killed = await startHubProcess(t, env)
  killed.child.kill('SIGKILL')
  await killed.stop()
  t.same(await leftBehind(), ['hub.pid', 'postmaster.pid'], 'the killed hub left its lock and its database')
  const next = await startHubProcess(t, env)
  t.match(next.stdout(), /"adopted":true/)
  t.equal((await fetch(next.url + '/ready')).status, 200)
  t.equal(await next.stop(), 0)
  t.same(await leftBehind(), [], 'the adopted database was stopped with the hub that adopted it')
})

t.test('a port in use is one line, and the database started for it is stopped', async t => {
  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const port = (taken.address() as { port: number }).port
  const { code, stderr } = await runHubExpectingExit({ ...env, PORT: String(port) })
  t.equal(code, 2)
  t.equal(stderr, `the hub cannot listen on 127.0.0.1:${port}: the port is in use (set PORT)\n`)
  t.same(await leftBehind(), [], 'no postgres and no lock left behind')
})

t.test('an unreachable DATABASE_URL is one line without the password', async t => {
  const refused = await runHubExpectingExit({ DATABASE_URL: 'postgres://hub:s3cret@127.0.0.1:1/hub' })
  t.equal(refused.code, 2)
  t.equal(refused.stderr, 'cannot reach the database at postgres://hub:***@127.0.0.1:1/hub: connection refused\n')

  const server = new URL(process.env.HUB_TEST_SERVER_URL!)
  server.password = 's3cret'
  const denied = await runHubExpectingExit({ DATABASE_URL: server.toString() })
  t.equal(denied.code, 2)
  t.equal(denied.stderr, `cannot reach the database at postgres://${server.username}:***@${server.host}${server.pathname}: password authentication failed for user "${server.username}"\n`)
})

t.test('as root, a data directory in a folder only root may enter keeps its cluster where postgres can reach it', { skip: process.getuid?.() !== 0 && 'needs root' }, async t => {
  // A checkout in /root or in `mktemp -d`: the postgres user cannot pass the 0700 folder.
  const closed = await mkdtemp(join(tmpdir(), 'hub-closed-'))
  const inside = join(closed, 'checkout', '.hub')
  const cluster = join(ROOT_CLUSTERS, createHash('sha1').update(inside).digest('hex').slice(0, 12))
  t.teardown(() => Promise.all([rm(closed, { recursive: true, force: true }), rm(cluster, { recursive: true, force: true })]))
  const hub = await startHubProcess(t, { ...env, HUB_DATA_DIR: inside })
  t.equal((await fetch(hub.url + '/ready')).status, 200)
  t.match(hub.stdout(), `"dataDir":"${join(cluster, 'pg')}"`, 'the log says where the cluster is')
  t.equal(await hub.stop(), 0)
  t.same(await readdir(inside), [], 'the lock is released in the data directory itself')
  t.ok((await readdir(join(cluster, 'pg'))).includes('PG_VERSION'))
})
