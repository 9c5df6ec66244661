import { ConnectorError } from '../connectors/errors.ts'
import { MappingError } from '../mapping/map.ts'

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

export const MAX_ATTEMPTS = 6
const BASE_DELAY_MS = 1_000
const MAX_DELAY_MS = 5 * 60_000

/** Exponential backoff with full jitter, never sooner than the system's Retry-After. */
export function retryDelayMs (attempt: number, retryAfterMs?: number, random = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt)
  const backoff = ceiling / 2 + random() * ceiling / 2
  return Math.min(MAX_DELAY_MS, Math.max(backoff, retryAfterMs ?? 0))
}
