import type { QueueDefinition } from './boss.ts'

export const INBOUND = 'inbound'
export const OUTBOUND = 'outbound'
export const DEAD_LETTER = 'dead-letter'
export const MAINTENANCE = 'maintenance'
export const POLL = 'poll'
export const IMPORT = 'import'

// Higher runs first. Debug jobs jump everything queued for the same work; live webhook traffic
// goes before bulk manual syncs, so a 100,000-ID batch never holds back a shop's changes.
export const PRIORITY = { debug: 100, live: 10, bulk: 0 } as const

/**
 * How many jobs stored work may have waiting in the inbound queue at once: each manual sync
 * batch (src/sync/expand.ts tops it up every half second), and each system's webhooks from the
 * backlog (src/ingest/pump.ts). 2,000 is over a second of the pipeline's best throughput, so
 * workers never run dry between two top-ups, yet a million ids or webhooks add only that many
 * waiting rows for pg-boss's fetch to pass over (it slows as waiting rows pile up).
 */
export const MAX_WAITING = 2_000

// pg-boss's own retries cover crashes and lost jobs only; HTTP failures are retried by the job
// runner (src/pipeline/run-job.ts), which honours Retry-After. A running job's worker refreshes
// its heartbeat every HEARTBEAT_SECONDS / 2; a job whose heartbeat is older than HEARTBEAT_SECONDS
// (its worker was killed, or lost the database) is failed by the supervisor and retried at once,
// instead of staying 'active' until expireInSeconds. 10 s is pg-boss's minimum.
export const HEARTBEAT_SECONDS = 10
const common = {
  notify: true,
  heartbeatSeconds: HEARTBEAT_SECONDS,
  // A database outage loses every running job's heartbeat at once: enough retries that a few
  // outages in a row do not dead-letter work that never got to run.
  retryLimit: 10,
  retryDelay: 1,
  retryBackoff: true,
  retryDelayMax: 60,
  expireInSeconds: 300,
  retentionSeconds: 7 * 24 * 3600,
  deleteAfterSeconds: 7 * 24 * 3600,
  deadLetter: DEAD_LETTER
}

export const queueDefinitions: QueueDefinition[] = [
  { name: DEAD_LETTER, retentionSeconds: 30 * 24 * 3600, deleteAfterSeconds: 30 * 24 * 3600 },
  // One job an hour, from pg-boss's scheduler (which runs it once across all processes).
  { name: MAINTENANCE, policy: 'singleton' },
  // stately: per record (singletonKey) at most one fetch waiting and one running, so a burst
  // of changes to one record coalesces into one fetch, and one record is never written twice
  // at the same time.
  { name: INBOUND, policy: 'stately', ...common },
  { name: OUTBOUND, policy: 'standard', ...common },
  // exclusive: per (system, type) one run queued or running, in every process together. A run
  // that dies is not retried: the next trigger or schedule carries on from the committed cursor.
  { name: POLL, policy: 'exclusive', ...common, retryLimit: 0, expireInSeconds: 6 * 3600 },
  // One job per CSV import, run a chunk at a time; a large one may take hours.
  { name: IMPORT, policy: 'standard', ...common, expireInSeconds: 12 * 3600 }
]

// The throttle's maxConcurrent becomes a pg-boss group tier: group concurrency is enforced in
// the database, across every worker process.
export const MAX_CONCURRENT = 100
export const concurrencyTier = (maxConcurrent: number) => `c${maxConcurrent}`
/** A job's maxConcurrent, read back from its tier. */
export const tierLimit = (tier: string | null | undefined) => Number(tier?.slice(1)) || groupConcurrency.default
export const groupConcurrency = {
  default: 4,
  tiers: Object.fromEntries(Array.from({ length: MAX_CONCURRENT }, (_, i) => [concurrencyTier(i + 1), i + 1]))
}
