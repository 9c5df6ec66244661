// The retry schedule, the circuit breaker and idempotency keys, against a real destination server
// whose outage the test switches on and off. Schedules are compressed through the system config.
import type { ServerResponse } from 'node:http'
import t from 'tap'
import { defaultRetry } from '../src/config/systems.ts'
import { retryDelayMs } from '../src/pipeline/failures.ts'
import { deadLetters, destLinks, startDelivery } from './helpers/delivery.ts'
import { settled, waitFor } from './helpers/pipeline.ts'

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

t.test('the default schedule: 16 attempts, 1 s doubling to 10 min, 67 to 80.5 min in all', async t => {
  const span = (random: () => number) => Array.from({ length: defaultRetry.attempts - 1 }, (_, i) => retryDelayMs(defaultRetry, i, undefined, random)).reduce((a, b) => a + b)
  t.same(defaultRetry, { attempts: 16, delayMs: 1_000, maxDelayMs: 600_000 })
  t.equal(span(() => 0), 4_023_000, '1+2+…+512 s, then five times 600 s')
  t.equal(span(() => 1), 4_023_000 * 1.2, 'jitter adds at most 20%')
  t.equal(retryDelayMs(defaultRetry, 0, 7_000, () => 0), 7_000, 'Retry-After is honoured')
  t.equal(retryDelayMs(defaultRetry, 0, 7_200_000, () => 0), 600_000, 'up to maxDelayMs')
})

t.test('a destination down for longer than its retry budget: deliveries are held, not dead-lettered, and all arrive after recovery', async t => {
  let down = true
  let made = 0
  const d = await startDelivery(t, {
    dest: (req, res) => down ? json(res, 503, { error: 'maintenance' }) : json(res, 201, { id: `d${++made}` }),
    // Three attempts 20-60 ms apart: without the breaker every delivery would be dead-lettered
    // within a fraction of a second.
    destSystem: { retry: { attempts: 3, delayMs: 20, maxDelayMs: 50 }, breaker: { failures: 3, probeAfterMs: 100 } }
  })
  const ids = ['1', '2', '3', '4', '5']
  await d.deliver(ids)
  const breaker = async () => (await d.app.inject({ url: '/v1/systems/dest', headers: d.auth })).json().breakerState
  await waitFor(async () => (await breaker()).state === 'open', 20_000, 'the breaker to open')
  // Probes go on long after every delivery would have spent its three attempts.
  await waitFor(() => d.creates().length > ids.length * 3, 20_000, 'more calls than the retry budget')
  t.equal(await deadLetters(d), 0, 'nothing dead-lettered while down')
  t.match(await breaker(), { state: 'open', lastError: /answered 503/ })
  // What operators see meanwhile: deliveries put off, not done and not waiting for a worker.
  const outbound = async () => (await d.app.inject({ url: '/v1/monitor/overview', headers: d.auth })).json().queues.find((q: { queue: string }) => q.queue === 'outbound')
  await waitFor(async () => (await outbound()).deferred > 0, 10_000, 'held deliveries to show as deferred')
  const during = await outbound()
  t.equal(during.completed.last60m, 0, 'no attempt that failed counts as a completed job')
  t.ok(during.retried.last60m + during.held.last60m > 0, 'they count as retried or held')
  const { rows: done } = await d.hub.pool.query("SELECT coalesce(sum(last_60m), 0)::int AS n FROM hub.throughput WHERE queue = 'outbound' AND state = 'completed'")
  t.equal(done[0].n, 0, 'nor in hub.throughput')

  down = false
  await waitFor(async () => (await destLinks(d)).length === ids.length, 20_000, 'every delivery to arrive')
  await settled(d.hub)
  t.equal(made, ids.length, 'each record created once')
  t.equal(await deadLetters(d), 0, 'nothing dead-lettered')
  t.same((await d.app.inject({ url: '/v1/errors', headers: d.auth })).json().errors, [], 'no final failure')
  t.match(await breaker(), { state: 'closed', failures: 0 })
  const { rows } = await d.hub.pool.query<{ outcome: string, n: number }>(
    "SELECT outcome, count(*)::int AS n FROM hub.history WHERE system_id = 'dest' GROUP BY 1")
  const outcomes = Object.fromEntries(rows.map(r => [r.outcome, r.n]))
  t.ok(outcomes.held > 0, 'held deliveries are in the history')
  t.equal(outcomes.created, ids.length)
  t.notOk(outcomes.failed, 'none failed')
})

t.test('a retried create sends the same idempotency key', async t => {
  let made = 0
  const d = await startDelivery(t, {
    dest: (req, res) => made++ === 0 ? json(res, 503, { error: 'busy' }) : json(res, 201, { id: 'd1' }),
    destSystem: { idempotency: { header: 'Idempotency-Key' }, retry: { delayMs: 20 } }
  })
  await d.deliver(['1'])
  await waitFor(async () => (await destLinks(d)).length === 1, 20_000, 'the delivery')
  const keys = d.creates().map(r => r.headers['idempotency-key'])
  t.equal(keys.length, 2, 'created on the second attempt')
  t.ok(keys[0], 'the create carries a key')
  t.equal(keys[1], keys[0], 'the retry carries the same key')
})
