// Telling a database that is away from a statement that failed on its data: the first is worth
// a 503 and a retry later; the second is the request's own fault and must stay its own.

const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])
const UNAVAILABLE_MESSAGE = /connection terminated|not currently accepting connections|timeout exceeded when trying to connect|not queryable|query read timeout|connection error|terminating connection/i

/** The database could not be reached or dropped the connection (an outage, a restart). */
export function isDatabaseUnavailable (err: unknown): boolean {
  const e = err as { code?: unknown, message?: unknown } | undefined
  if (!e) return false
  const code = typeof e.code === 'string' ? e.code : ''
  if (code.startsWith('08') || UNAVAILABLE_CODES.has(code)) return true
  return typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)
}

/** PostgreSQL refused a value (class 22 data exception, 54 limit exceeded): the input is at fault. */
export function isRejectedValue (err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code)
}

/** PostgreSQL broke a deadlock by failing this transaction: run it again. */
export const isDeadlock = (err: unknown) => (err as { code?: unknown } | undefined)?.code === '40P01'
