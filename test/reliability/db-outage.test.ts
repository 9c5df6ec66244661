// PostgreSQL stopped for 10 s under an API and a worker process while webhooks keep arriving:
// every 202 is a job that gets delivered, requests during the outage get 503 + Retry-After (no
// 500, no hang), and both processes carry on by themselves once it is back. The test has a
// PostgreSQL of its own (the run's server is shared by every test file), stopped and started on
// the same port with pg_ctl.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startEmbeddedPostgres, usableBinaries } from '../../src/db/embedded.ts'
import type { EmbeddedPostgres } from '../../src/db/embedded.ts'
import { waitFor } from '../helpers/pipeline.ts'
import { alive, counter, destinationSystem, events, postHook, sourceSystem, startDestination, startHub, startSource, writeConfig } from './harness.ts'
import type { Answer } from './harness.ts'

const OUTAGE_MS = 10_000
const CLIENT_TIMEOUT_MS = 20_000
const SENDERS = 4

/** Run pg_ctl on `server`'s data directory as the directory's owner (postgres refuses root). */
async function pgCtl (server: EmbeddedPostgres, args: string[]): Promise<void> {
  const { uid, gid } = await stat(server.dataDir)
  const owner = userInfo().uid === 0 ? { uid, gid } : undefined
  const { pg_ctl: pgCtlPath } = await usableBinaries(owner)
  await promisify(execFile)(pgCtlPath, [...args, '-D', server.dataDir], owner ?? {})
}

t.test('PostgreSQL down for 10 s: 503 + Retry-After meanwhile, every 202 delivered, processes recover by themselves', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-pg-outage-'))
  const server = await startEmbeddedPostgres(dir)
  t.teardown(async () => {
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const port = new URL(server.url).port
  const source = await startSource(t)
  // Creates cut off by the outage run again; the destination de-duplicates them by idempotency
  // key, as the README advises for any destination without a lookup.
  const dest = await startDestination(t, { idempotencyHeader: 'Idempotency-Key' })
  const config = await writeConfig(t, [sourceSystem('shop', source.url), destinationSystem('dest', dest.url, { idempotencyHeader: 'Idempotency-Key' })])
  // The first process migrates the new database and creates the queues.
  const api = await startHub(t, server.url, config, 'api')
  const worker = await startHub(t, server.url, config, 'worker')

  type Phase = 'before' | 'during' | 'after'
  let phase: Phase = 'before'
  const answers: Array<Answer & { id: string, phase: Phase }> = []
  const phaseCount = (p: Phase, status: number) => answers.filter(a => a.phase === p && a.status === status).length
  let seq = 0
  let sending = true
  const senders = Array.from({ length: SENDERS }, async () => {
    while (sending) {
      const id = String(++seq)
      const answer = await postHook(api.url, 'shop', events([id]), {}, CLIENT_TIMEOUT_MS)
      // An answer counts for the phase it arrived in.
      answers.push({ ...answer, id, phase })
      if (answer.status !== 202) await new Promise(resolve => setTimeout(resolve, 100))
    }
  })

  await waitFor(() => phaseCount('before', 202) >= 50, 60_000, 'webhooks accepted before the outage')
  await pgCtl(server, ['stop', '-w', '-m', 'fast'])
  phase = 'during'
  await new Promise(resolve => setTimeout(resolve, OUTAGE_MS))
  await pgCtl(server, ['start', '-w', '-t', '60', '-l', join(dir, 'postgres.log'), '-o', `-p ${port} -c listen_addresses=127.0.0.1 -k '' -c max_connections=200`])
  phase = 'after'
  await waitFor(() => phaseCount('after', 202) >= 50, 60_000, 'webhooks accepted again')
  sending = false
  await Promise.all(senders)

  const refused = answers.filter(a => a.status === 503)
  t.ok(phaseCount('during', 503) > 0, `requests during the outage got 503 (${phaseCount('during', 503)})`)
  t.same(refused.filter(a => !a.retryAfter).map(a => a.body), [], 'every 503 with Retry-After')
  t.same(answers.filter(a => a.status !== 202 && a.status !== 503).map(a => `${a.phase}: ${a.status} ${a.body}`), [], 'no other answer: no 500, no hang, no refused connection')
  t.ok(alive(api) && alive(worker), 'both processes ran on without a restart')

  const accepted = answers.filter(a => a.status === 202).map(a => a.id)
  const count = await counter(t, server.url)
  const queued = await count.queuedIds('shop')
  t.same(accepted.filter(id => !queued.has(id)), [], `each of the ${accepted.length} 202s is a job`)
  t.same(refused.map(a => a.id).filter(id => queued.has(id)), [], `none of the ${refused.length} 503s is`)
  await waitFor(() => dest.delivered >= accepted.length, 120_000, 'every accepted record delivered')
  await waitFor(async () => await count.pending() === 0, 60_000, 'the pipeline to settle')
  t.equal(dest.delivered, accepted.length, `the worker delivered all ${accepted.length} accepted records`)
  t.same(dest.duplicates(), [], 'none twice')
  t.equal(await count.deadLettered(), 0, 'nothing dead-lettered')
  t.comment(`answers: ${accepted.length} × 202, ${refused.length} × 503 (${phaseCount('during', 503)} during the outage)`)
})
