import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Queryable } from './db/queryable.ts'
import { IMPORT, INBOUND, OUTBOUND, POLL } from './queue/queues.ts'

// One registry per process: counters count what this process did (an API process its requests
// and webhooks, a worker its jobs and calls), so Prometheus scrapes every process. Queue depth
// is the database's and the same from any process.
export const registry = new Registry()

const jobs = new Counter({
  name: 'hub_jobs_total',
  help: 'Pipeline jobs run, by queue, system and outcome (completed, retried, held, failed)',
  labelNames: ['queue', 'system', 'outcome'] as const,
  registers: [registry]
})

const webhooks = new Counter({
  name: 'hub_webhooks_total',
  help: 'Webhook requests, by system and outcome (accepted, rejected, failed)',
  labelNames: ['system', 'outcome'] as const,
  registers: [registry]
})

const http = new Histogram({
  name: 'hub_http_request_duration_seconds',
  help: 'HTTP requests served, by method, route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry]
})

const calls = new Histogram({
  name: 'hub_outbound_request_duration_seconds',
  help: 'Calls to systems, by system and HTTP status (network: no answer)',
  labelNames: ['system', 'status'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry]
})

const queueDepth = new Gauge({
  name: 'hub_queue_depth',
  help: 'Unfinished jobs, by queue and state',
  labelNames: ['queue', 'state'] as const,
  registers: [registry]
})

const openErrors = new Gauge({
  name: 'hub_errors_unresolved',
  help: 'Final failures in the error log not resolved by a replay (what an operator has to look at)',
  registers: [registry]
})

// The queues workers take jobs from (not dead letters, which wait for an operator).
const WORK_QUEUES = [INBOUND, OUTBOUND, POLL, IMPORT]

const oldestAge = new Gauge({
  name: 'hub_queue_oldest_age_seconds',
  help: 'Age of the oldest job due and waiting, by queue',
  labelNames: ['queue'] as const,
  registers: [registry]
})

export type JobOutcome = 'completed' | 'retried' | 'held' | 'failed'
export const countJob = (queue: string, system: string, outcome: JobOutcome) => jobs.inc({ queue, system, outcome })

export function countWebhook (system: string, status: number): void {
  webhooks.inc({ system, outcome: status < 400 ? 'accepted' : status < 500 ? 'rejected' : 'failed' })
}

export const observeRequest = (method: string, route: string, status: number, seconds: number) => http.observe({ method, route, status: String(status) }, seconds)

export const observeCall = (system: string, status: number | 'network', startedMs: number) => calls.observe({ system, status: String(status) }, (Date.now() - startedMs) / 1000)

// An `all` process's worker processes have no port: their counters (as from
// registry.getMetricsAsJSON()) are summed into the text their parent serves.
let fromOtherProcesses: () => Promise<object[]> = async () => []
export function mergeMetricsFrom (source: () => Promise<object[]>): void { fromOtherProcesses = source }

/** The exposition text, with queue depth and oldest waiting age read from the job tables. */
export async function metricsText (db: Queryable): Promise<string> {
  const [queues, oldest, errors] = await Promise.all([
    db.query<{ queue: string, state: string, jobs: number }>('SELECT queue, state, sum(jobs)::int AS jobs FROM hub.queue_depth GROUP BY 1, 2'),
    db.query<{ queue: string, oldest_age_seconds: number | null }>('SELECT queue, oldest_age_seconds FROM hub.oldest_waiting'),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM hub.errors WHERE resolved_at IS NULL')
  ])
  // A queue that emptied is absent from the views: its series read 0 rather than vanish (an
  // alert on them would see no data) or keep their last value.
  queueDepth.reset()
  oldestAge.reset()
  for (const queue of WORK_QUEUES) {
    for (const state of ['created', 'active']) queueDepth.set({ queue, state }, 0)
    oldestAge.set({ queue }, 0)
  }
  for (const r of queues.rows) queueDepth.set({ queue: r.queue, state: r.state }, r.jobs)
  for (const r of oldest.rows) if (r.oldest_age_seconds !== null) oldestAge.set({ queue: r.queue }, r.oldest_age_seconds)
  openErrors.set(errors.rows[0].n)
  const others = await fromOtherProcesses()
  if (!others.length) return await registry.metrics()
  return await AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), ...others]).metrics()
}
