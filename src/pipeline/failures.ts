import { ConnectorError } from '../connectors/errors.ts'
import { MappingError } from '../mapping/map.ts'
import type { RetryPolicy } from '../config/systems.ts'
import type { Verdict } from '../connectors/breaker.ts'

/** A failure retrying cannot fix (bad mapping, invalid record, missing config). */
export class PermanentError extends Error {
  status?: number
  constructor (message: string, status?: number) {
    super(message)
    this.status = status
  }
}

export interface Classified { transient: boolean, message: string, status?: number, retryAfterMs?: number }

/** Transient failures retry with backoff; everything we can name as permanent fails at once. */
export function classify (err: unknown): Classified {
  if (err instanceof ConnectorError) return { transient: err.transient, message: err.message, status: err.status, retryAfterMs: err.retryAfterMs }
  if (err instanceof PermanentError) return { transient: false, message: err.message, status: err.status }
  if (err instanceof MappingError) return { transient: false, message: err.message }
  // Database hiccups and anything unforeseen: worth another try.
  return { transient: true, message: (err as Error)?.message ?? String(err) }
}

/**
 * What a failure says about the system for its circuit breaker: a transient call failure means
 * it is down; any other answer (a 4xx) that it is up; anything else (a mapping error, the
 * database) says nothing.
 */
export function breakerVerdict (err: unknown): Verdict {
  if (!(err instanceof ConnectorError)) return 'none'
  if (err.transient) return 'down'
  return err.status === undefined ? 'none' : 'up'
}

/**
 * Exponential backoff: `baseMs` doubling per step up to `capMs`, plus up to 20% jitter so jobs
 * that failed together do not come back together. Never shorter than the schedule.
 */
export function backoffMs (baseMs: number, step: number, capMs: number, random = Math.random): number {
  return Math.min(capMs, baseMs * 2 ** step) * (1 + 0.2 * random())
}

/** The wait before retry number `attempt + 1`; a Retry-After is honoured up to maxDelayMs. */
export function retryDelayMs (policy: RetryPolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  return Math.max(backoffMs(policy.delayMs, attempt, policy.maxDelayMs, random), Math.min(retryAfterMs ?? 0, policy.maxDelayMs))
}
