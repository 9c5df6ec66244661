// Operators' API: error filters and paging, replay of failures one by one and by filter against
// a destination that fails and then recovers, the monitor overview and the views, /metrics.
import type { ServerResponse } from 'node:http'
import parsePrometheus from 'parse-prometheus-text-format'
import type { Family } from 'parse-prometheus-text-format'
import t from 'tap'
import { destLinks, startDelivery } from './helpers/delivery.ts'
import { buildTestHub } from './helpers/hub.ts'
import { settled, waitFor } from './helpers/pipeline.ts'

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

interface ErrorRow { id: number, resolvedAt: string | null, replayJobId: string | null }

t.test('errors: filters, paging, replay one and by filter once the destination recovers, 409 when its system is gone', async t => {
  let broken = true
  let made = 0
  const d = await startDelivery(t, {
    // 422 is permanent: each delivery fails at once, without retries.
    dest: (req, res) => broken ? json(res, 422, { error: 'Email Rejected' }) : json(res, 201, { id: `d${++made}` })
  })
  const list = async (query = '') => {
    const res = await d.app.inject({ url: `/v1/errors${query}`, headers: d.auth })
    t.equal(res.statusCode, 200, query)
    return res.json() as { errors: ErrorRow[], next: number | null }
  }
  const retry = async (url: string, payload?: Record<string, unknown>) => await d.app.inject({ method: 'POST', url, headers: d.auth, payload })

  await d.deliver(['1', '2', '3'])
  await waitFor(async () => (await list()).errors.length === 3, 20_000, 'three failures')
  await settled(d.hub)
  // Dead letters wait for an operator: the error log counts them, the backlog does not.
  t.same((await d.hub.pool.query("SELECT * FROM hub.queue_depth WHERE queue = 'dead-letter'")).rows, [], 'dead letters are not a backlog')
  const metrics = (await d.app.inject({ url: '/metrics', headers: d.auth })).body
  t.match(metrics, /^hub_errors_unresolved 3$/m, 'the unresolved errors are')
  t.notMatch(metrics, /hub_queue_depth\{queue="dead-letter"/)
  t.match(metrics, /^hub_queue_depth\{queue="outbound",state="created"\} 0$/m, 'an empty queue reads 0 rather than vanishing')

  t.equal((await list('?resolved=false&system=dest&direction=outbound&type=customer')).errors.length, 3)
  t.equal((await list('?resolved=true')).errors.length, 0)
  t.equal((await list('?text=email%20REJECTED')).errors.length, 3, 'message text, any case')
  t.equal((await list('?text=100%25')).errors.length, 0, '% is a character, not a wildcard')
  t.equal((await list(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).errors.length, 0)
  const page1 = await list('?limit=2')
  t.equal(page1.errors.length, 2)
  const page2 = await list(`?limit=2&before=${page1.next}`)
  t.equal(page2.errors.length, 1)
  t.ok(page2.errors[0].id < page1.errors[1].id, 'the next page goes on where the first ended')
  t.equal(page2.next, null)

  const bad = await d.app.inject({ url: '/v1/errors?since=yesterday&resolved=maybe&direction=up', headers: d.auth })
  t.equal(bad.statusCode, 400)
  t.same(bad.json().error.details.map((i: { path: string }) => i.path).sort(), ['querystring.direction', 'querystring.resolved', 'querystring.since'])
  t.equal((await retry('/v1/errors/retry', { since: 'soon', extra: 1 })).statusCode, 400)
  t.equal((await retry('/v1/errors/999999/retry')).statusCode, 404)
  t.equal((await retry('/v1/errors/x/retry')).statusCode, 400)

  broken = false
  const [first, ...rest] = (await list()).errors
  const one = await retry(`/v1/errors/${first.id}/retry`)
  t.equal(one.statusCode, 202, one.body)
  t.ok(one.json().jobId, 'a new job')
  await waitFor(async () => (await list('?resolved=true')).errors.length === 1, 20_000, 'the replay to resolve it')
  const [resolved] = (await list('?resolved=true')).errors
  t.match(resolved, { id: first.id, replayJobId: one.json().jobId, resolvedAt: String })
  const job = await d.app.inject({ url: `/v1/jobs/${one.json().jobId}`, headers: d.auth })
  t.match(job.json(), { state: 'completed' }, 'the new job is shown')
  const again = await retry(`/v1/errors/${first.id}/retry`)
  t.equal(again.statusCode, 409)
  t.match(again.json().error.message, /resolved already/)

  const all = await retry('/v1/errors/retry', { system: 'dest' })
  t.equal(all.statusCode, 202, all.body)
  t.same(all.json().queued.map((q: { id: number }) => q.id).sort(), rest.map(e => e.id).sort(), 'only the open ones')
  t.same(all.json().refused, [])
  await waitFor(async () => (await list('?resolved=false')).errors.length === 0, 20_000, 'every error resolved')
  await settled(d.hub)
  t.equal((await destLinks(d)).length, 3, 'every record delivered')
  t.equal(made, 3, 'each created once')

  broken = true
  await d.deliver(['4'])
  await waitFor(async () => (await list('?resolved=false')).errors.length === 1, 20_000, 'a new failure')
  await settled(d.hub)
  const [open] = (await list('?resolved=false')).errors
  t.equal((await d.app.inject({ method: 'DELETE', url: '/v1/systems/dest', headers: d.auth })).statusCode, 204)
  const gone = await retry(`/v1/errors/${open.id}/retry`)
  t.equal(gone.statusCode, 409)
  t.equal(gone.json().error.message, `error ${open.id} cannot be replayed: system 'dest' no longer exists`)
  const byFilter = await retry('/v1/errors/retry', {})
  t.same(byFilter.json(), { queued: [], refused: [{ id: open.id, reason: gone.json().error.message }] })
  t.same((await retry('/v1/errors/retry', { system: 'dest' })).json().refused.map((r: { id: number }) => r.id), [open.id], 'a system gone: its errors are refused')
  const typo = await retry('/v1/errors/retry', { system: 'dset' })
  t.equal(typo.statusCode, 400, typo.body)
  t.equal(typo.json().error.message, "system: no system 'dset' is configured, and no open error names it")
  t.equal((await list('?resolved=false')).errors[0].replayJobId, null, 'nothing queued for a refused replay')
})

t.test('a replay that fails again closes the error it replayed in favour of the new one; one replay of an error at a time', async t => {
  // While `hold` is set, a call is answered only once `answer` is called; `arrived` says it came.
  let hold = false
  let arrived = () => {}
  let answer = () => {}
  const d = await startDelivery(t, {
    dest: async (req, res) => {
      if (hold) {
        arrived()
        await new Promise<void>(resolve => { answer = resolve })
      }
      json(res, 422, { error: 'Email Rejected' })
    }
  })
  const list = async (query = '') => (await d.app.inject({ url: `/v1/errors${query}`, headers: d.auth })).json().errors as Array<ErrorRow & { supersededBy: number | null }>
  const retry = (url: string, payload?: Record<string, unknown>) => d.app.inject({ method: 'POST', url, headers: d.auth, payload })
  await d.deliver(['1'])
  await waitFor(async () => (await list()).length === 1, 20_000, 'the failure')
  await settled(d.hub)
  const [first] = await list()

  // The replay's call is held: a second replay of the same error meanwhile is refused.
  const arrival = new Promise<void>(resolve => { arrived = resolve })
  hold = true
  const one = await retry(`/v1/errors/${first.id}/retry`)
  t.equal(one.statusCode, 202)
  await arrival
  const twice = await retry(`/v1/errors/${first.id}/retry`)
  t.equal(twice.statusCode, 409)
  t.equal(twice.json().error.message, `error ${first.id} is being replayed already (job ${one.json().jobId}, active)`)
  t.same((await retry('/v1/errors/retry', {})).json().queued, [], 'nor does a retry of everything queue it again')
  hold = false
  answer()

  await waitFor(async () => (await list()).length === 2, 20_000, 'the replay to fail again')
  await settled(d.hub)
  const [second, original] = await list()
  t.match(original, { id: first.id, supersededBy: second.id, resolvedAt: String }, 'the replayed error is closed, pointing at the new one')
  t.match(second, { supersededBy: null, resolvedAt: null })
  t.same((await list('?resolved=false')).map(e => e.id), [second.id], 'one open error for the one failing delivery')
  t.same((await retry('/v1/errors/retry', {})).json().queued.map((q: { id: number }) => q.id), [second.id], 'retry all replays it once')
})

t.test("a failed update's error names the record as the destination knows it", async t => {
  let email = 'first@example.com'
  const d = await startDelivery(t, {
    source: id => ({ id, email }),
    dest: (req, res) => req.method === 'POST' ? json(res, 201, { id: 'D-7' }) : json(res, 422, { error: 'locked' })
  })
  await d.deliver(['1'])
  await waitFor(async () => (await destLinks(d)).length === 1, 20_000, 'the create')
  email = 'changed@example.com'
  await d.deliver(['1'])
  const errors = async () => (await d.app.inject({ url: '/v1/errors', headers: d.auth })).json().errors
  await waitFor(async () => (await errors()).length === 1, 20_000, 'the failed update')
  t.match((await errors())[0], { scope: 'customer/update', externalId: 'D-7', recordId: String })
  await settled(d.hub)
})

t.test('hub.failures groups failures by kind: the record ids in a path do not split a group', async t => {
  let email = 'first@example.com'
  let made = 0
  const d = await startDelivery(t, {
    source: id => ({ id, email: `${id}-${email}` }),
    dest: (req, res) => req.method === 'POST' ? json(res, 201, { id: `D${++made}` }) : json(res, 422, { error: 'locked' })
  })
  await d.deliver(['1', '2', '3'])
  await waitFor(async () => (await destLinks(d)).length === 3, 20_000, 'the creates')
  email = 'changed@example.com'
  await d.deliver(['1', '2', '3'])
  await waitFor(async () => (await d.hub.pool.query('SELECT count(*)::int AS n FROM hub.errors')).rows[0].n === 3, 20_000, 'three failed updates')
  await settled(d.hub)
  const { rows } = await d.hub.pool.query('SELECT message, errors, unresolved FROM hub.failures')
  t.same(rows, [{ message: 'PUT /customers/{id} answered 422: locked', errors: 3, unresolved: 3 }])
})

t.test('the overview and the views answer after traffic', async t => {
  const d = await startDelivery(t, { dest: (req, res) => json(res, 201, { id: `d-${req.url}-${Math.random()}` }) })
  await d.deliver(['1', '2'])
  await waitFor(async () => (await destLinks(d)).length === 2, 20_000, 'both deliveries')
  await settled(d.hub)

  t.equal((await d.app.inject({ url: '/v1/monitor/overview' })).statusCode, 401)
  const res = await d.app.inject({ url: '/v1/monitor/overview', headers: d.auth })
  t.equal(res.statusCode, 200, res.body)
  const o = res.json()
  const queue = (name: string) => o.queues.find((q: { queue: string }) => q.queue === name)
  t.match(queue('inbound'), { states: {}, waiting: 0, oldestAgeSeconds: null, completed: { last60m: 2 }, failed: { last60m: 0 } })
  t.match(queue('outbound'), { completed: { last60m: 2 } })
  t.match(o.systems.find((s: { id: string }) => s.id === 'dest'), { throttle: { maxConcurrent: Number }, breaker: { state: 'closed' }, lastHour: { created: 2 } })
  t.ok(o.workers.length >= 1, 'this process is a live worker')
  // A process is listed until it misses two beats, and beats every 5 s: a killed one is gone within 10 s.
  t.same((await d.hub.pool.query('SELECT DISTINCT heartbeat_seconds AS s FROM pgboss.instance WHERE stopped_on IS NULL')).rows, [{ s: 5 }])
  await d.hub.pool.query(
    `INSERT INTO pgboss.instance (id, host, pid, version, node_version, heartbeat_seconds, supervise, schedule, migrate, persist_queue_stats, persist_warnings, heartbeat_on)
     SELECT gen_random_uuid(), host, pid, '0', '0', 5, false, false, false, false, false, now() - make_interval(secs => ago)
     FROM (VALUES ('killed-host', 1, 11), ('quiet-host', 2, 4)) AS v (host, pid, ago)`)
  const hosts = (await d.app.inject({ url: '/v1/monitor/overview', headers: d.auth })).json().workers.map((w: { host: string }) => w.host)
  t.ok(hosts.includes('quiet-host') && !hosts.includes('killed-host'), 'a process 4 s since its beat is live, one 11 s since is not')
  t.same(o.oldestWaiting, null)
  t.same(o.errors, { lastHour: 0, unresolved: 0 })

  // The README's example queries.
  const q = async (sql: string, params: unknown[] = []) => (await d.hub.pool.query(sql, params)).rows
  t.same(await q('SELECT * FROM hub.queue_depth'), [], 'nothing left to do')
  t.match(await q("SELECT queue, sum(last_60m)::int AS n FROM hub.throughput WHERE state = 'completed' GROUP BY 1 ORDER BY 1"), [{ queue: 'inbound', n: 2 }, { queue: 'outbound', n: 2 }])
  t.same(await q('SELECT * FROM hub.oldest_waiting'), [])
  t.same(await q('SELECT * FROM hub.dead_letters'), [])
  t.same(await q('SELECT * FROM hub.failures'), [])
  const lineage = await q(`SELECT system, direction, outcome, external_id, job_state FROM hub.record_lineage
    WHERE record_id = (SELECT record_id FROM hub.links WHERE system_id = 'src' AND type = 'customer' AND external_id = $1) ORDER BY at`, ['1'])
  t.match(lineage, [{ system: 'src', direction: 'inbound', external_id: '1', job_state: 'completed' }, { system: 'dest', direction: 'outbound', outcome: 'created', external_id: /^d-/, job_state: 'completed' }])
})

t.test('/metrics: Prometheus text that moves with traffic; a read key unless configured open', async t => {
  const d = await startDelivery(t, { dest: (req, res) => json(res, 201, { id: `d-${req.url}-${Math.random()}` }) })
  t.equal((await d.app.inject({ url: '/metrics' })).statusCode, 401)
  const scrape = async () => {
    const res = await d.app.inject({ url: '/metrics', headers: d.auth })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    return { text: res.body, families: parsePrometheus(res.body) }
  }
  const counter = (families: Family[], name: string, labels: Record<string, string>) => {
    const s = families.find(f => f.name === name)?.metrics.find(m => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    return Number(s?.value ?? 0)
  }
  // The parser keeps no labels of histogram samples: their _count lines are read as written.
  const observations = (text: string, name: string, labels: string) => Number(new RegExp(`^${name}_count\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
  const before = await scrape()
  await d.deliver(['1', '2'])
  await waitFor(async () => (await destLinks(d)).length === 2, 20_000, 'both deliveries')
  await settled(d.hub)
  const after = await scrape()
  const moved = (name: string, labels: Record<string, string>) => counter(after.families, name, labels) - counter(before.families, name, labels)
  const observed = (name: string, labels: string) => observations(after.text, name, labels) - observations(before.text, name, labels)
  t.equal(moved('hub_jobs_total', { queue: 'outbound', system: 'dest', outcome: 'completed' }), 2)
  t.equal(moved('hub_jobs_total', { queue: 'inbound', system: 'src', outcome: 'completed' }), 2)
  t.equal(moved('hub_webhooks_total', { system: 'src', outcome: 'accepted' }), 1)
  t.equal(observed('hub_outbound_request_duration_seconds', 'system="dest",status="201"'), 2)
  t.equal(observed('hub_outbound_request_duration_seconds', 'system="src",status="200"'), 2)
  t.equal(observed('hub_http_request_duration_seconds', 'method="POST",route="/v1/hooks/:system",status="202"'), 1)
  t.match(after.families.find(f => f.name === 'hub_queue_depth'), { type: 'GAUGE' })
  t.match(after.families.find(f => f.name === 'hub_queue_oldest_age_seconds'), { type: 'GAUGE' })

  const open = await buildTestHub(t, { workers: false, env: { HUB_METRICS_OPEN: 'true' } })
  const res = await open.app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.ok(parsePrometheus(res.body).some(f => f.name === 'hub_jobs_total'))
})
