// How a call to an external system failed, classified once here so every job treats it alike:
// transient failures are retried with backoff, permanent ones fail at once.
export class ConnectorError extends Error {
  status?: number
  transient: boolean
  /** From a Retry-After header, when the system sent one. */
  retryAfterMs?: number

  constructor (message: string, opts: { status?: number, transient: boolean, retryAfterMs?: number }) {
    super(message)
    this.status = opts.status
    this.transient = opts.transient
    this.retryAfterMs = opts.retryAfterMs
  }
}

const TRANSIENT_STATUS = new Set([408, 425, 429])
export const isTransientStatus = (status: number) => status >= 500 || TRANSIENT_STATUS.has(status)

/** Retry-After is either seconds or an HTTP date. */
export function parseRetryAfter (value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (!text) return undefined
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
