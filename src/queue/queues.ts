import type { QueueDefinition } from './boss.ts'

export const INBOUND = 'inbound'
export const OUTBOUND = 'outbound'
export const DEAD_LETTER = 'dead-letter'
export const MAINTENANCE = 'maintenance'

// Higher runs first. Debug jobs jump everything queued for the same work; live webhook traffic
// goes before bulk manual syncs, so a 100,000-ID batch never holds back a shop's changes.
export const PRIORITY = { debug: 100, live: 10, bulk: 0 } as const

// pg-boss's own retries cover crashes and expired jobs only; HTTP failures are retried by the
// job runner (src/pipeline/run-job.ts), which honours Retry-After.
const common = {
  notify: true,
  retryLimit: 2,
  retryDelay: 5,
  retryBackoff: true,
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
  { name: OUTBOUND, policy: 'standard', ...common }
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
