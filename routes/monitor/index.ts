import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { adminErrors, errorResponses, timestamp } from '../../src/http/schemas.ts'

const count = z.number().int()

const overview = z.object({
  queues: z.array(z.object({
    queue: z.string(),
    states: z.record(z.string(), count).describe('unfinished jobs by pg-boss state; inbound also `accepted`: webhooks in the backlog, not yet jobs'),
    waiting: count.describe('due and waiting for a worker'),
    deferred: count.describe("waiting for their time, not a worker: a retry's wait, a delivery held by an open circuit breaker"),
    oldestAgeSeconds: z.number().nullable().describe('age of the oldest job waiting'),
    completed: z.object({ last1m: count, last5m: count, last60m: count }),
    retried: z.object({ last1m: count, last5m: count, last60m: count }).describe('attempts that failed and were tried again later'),
    held: z.object({ last1m: count, last5m: count, last60m: count }).describe('attempts put off while their system was down (circuit breaker open)'),
    failed: z.object({ last1m: count, last5m: count, last60m: count })
  })),
  systems: z.array(z.object({
    id: z.string(),
    throttle: z.object({ maxConcurrent: count, perSecond: z.number().nullable() }),
    breaker: z.object({ state: z.enum(['closed', 'open']), failures: count, lastError: z.string().nullable() }),
    lastHour: z.record(z.string(), count).describe('history outcomes of the last hour (created, updated, failed, retrying, …)')
  })),
  workers: z.array(z.object({ host: z.string(), pid: count, heartbeatAt: timestamp })).describe('hub processes with a live pg-boss heartbeat'),
  oldestWaiting: z.object({ queue: z.string(), ageSeconds: z.number() }).nullable(),
  errors: z.object({ lastHour: count, unresolved: count })
})

const monitor: FastifyPluginAsyncZod = async (fastify) => {
  const { pool, systems } = fastify.hub

  fastify.get('/overview', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['monitor'],
      summary: 'Queues, systems and their health, live workers, the oldest waiting job, recent errors',
      security: [{ adminKey: [] }],
      response: { 200: overview, ...errorResponses(...adminErrors) }
    }
  }, async () => {
    // The same views operators query with psql (sql/views/jobs.sql).
    const [depth, oldest, throughput, outcomes, breakers, workers, errors, all] = await Promise.all([
      pool.query<{ queue: string, state: string, jobs: number }>('SELECT queue, state, sum(jobs)::int AS jobs FROM hub.queue_depth GROUP BY 1, 2'),
      pool.query<{ queue: string, waiting: number, deferred: number, oldest_age_seconds: number | null }>('SELECT queue, waiting, deferred, oldest_age_seconds FROM hub.oldest_waiting'),
      pool.query<{ queue: string, state: string, last_1m: number, last_5m: number, last_60m: number }>(
        'SELECT queue, state, sum(last_1m)::int AS last_1m, sum(last_5m)::int AS last_5m, sum(last_60m)::int AS last_60m FROM hub.throughput GROUP BY 1, 2'),
      pool.query<{ system_id: string, outcome: string, n: number }>(
        "SELECT system_id, outcome, count(*)::int AS n FROM hub.history WHERE at > now() - interval '1 hour' GROUP BY 1, 2"),
      pool.query<{ system_id: string, failures: number, open: boolean, last_error: string | null }>(
        'SELECT system_id, failures, opened_at IS NOT NULL AS open, last_error FROM hub.breakers'),
      pool.query<{ host: string, pid: number, heartbeatAt: string }>(
        `SELECT host, pid, to_json(heartbeat_on)#>>'{}' AS "heartbeatAt"
         FROM pgboss.instance WHERE stopped_on IS NULL AND heartbeat_on > now() - make_interval(secs => 2 * heartbeat_seconds)
         ORDER BY host, pid`),
      pool.query<{ last_hour: number, unresolved: number }>(
        "SELECT count(*) FILTER (WHERE at > now() - interval '1 hour')::int AS last_hour, count(*) FILTER (WHERE resolved_at IS NULL)::int AS unresolved FROM hub.errors"),
      systems.all()
    ])
    const names = new Set([...depth.rows, ...oldest.rows, ...throughput.rows].map(r => r.queue))
    const window = (queue: string, state: string) => {
      const r = throughput.rows.find(x => x.queue === queue && x.state === state)
      return { last1m: r?.last_1m ?? 0, last5m: r?.last_5m ?? 0, last60m: r?.last_60m ?? 0 }
    }
    const queues = [...names].sort().map(queue => {
      const o = oldest.rows.find(r => r.queue === queue)
      return {
        queue,
        states: Object.fromEntries(depth.rows.filter(r => r.queue === queue).map(r => [r.state, r.jobs])),
        waiting: o?.waiting ?? 0,
        deferred: o?.deferred ?? 0,
        oldestAgeSeconds: o?.oldest_age_seconds ?? null,
        completed: window(queue, 'completed'),
        retried: window(queue, 'retried'),
        held: window(queue, 'held'),
        failed: window(queue, 'failed')
      }
    })
    const first = oldest.rows.filter(r => r.oldest_age_seconds !== null).sort((a, b) => b.oldest_age_seconds! - a.oldest_age_seconds!)[0]
    return {
      queues,
      systems: all.map(s => {
        const b = breakers.rows.find(r => r.system_id === s.id)
        return {
          id: s.id,
          throttle: { maxConcurrent: s.throttle.maxConcurrent, perSecond: s.throttle.perSecond ?? null },
          breaker: { state: b?.open ? 'open' as const : 'closed' as const, failures: b?.failures ?? 0, lastError: b?.last_error ?? null },
          lastHour: Object.fromEntries(outcomes.rows.filter(r => r.system_id === s.id).map(r => [r.outcome, r.n]))
        }
      }),
      workers: workers.rows,
      oldestWaiting: first ? { queue: first.queue, ageSeconds: first.oldest_age_seconds! } : null,
      errors: { lastHour: errors.rows[0].last_hour, unresolved: errors.rows[0].unresolved }
    }
  })
}

export default monitor
