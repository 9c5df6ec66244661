// The one error type routes and jobs throw for expected failures; the API turns it into the
// envelope {"error": {"code", "message", "details"?}} with its status code.
export class HubError extends Error {
  statusCode: number
  code: string
  details?: unknown
  /** Seconds, sent as Retry-After (503, 429). */
  retryAfter?: number

  constructor (statusCode: number, code: string, message: string, details?: unknown) {
    super(message)
    this.statusCode = statusCode
    this.code = code
    this.details = details
  }
}

export const badRequest = (message: string, details?: unknown) => new HubError(400, 'bad_request', message, details)
/**
 * The one shape of a request's field errors: 400 validation_failed, the first issue in the message
 * (`path: problem`), every issue in details as {path, message}; '(root)' is the value itself.
 */
export function invalid (issues: ReadonlyArray<{ path: string, message: string }>): HubError {
  const named = issues.map(i => ({ ...i, path: i.path || '(root)' }))
  return new HubError(400, 'validation_failed', `${named[0].path}: ${named[0].message}`, named)
}
/** One field's error in that shape, such as a value that names nothing that exists; `more` joins its issue. */
export const fieldError = (path: string, message: string, more?: Record<string, unknown>) => invalid([{ path, message, ...more }])
export const unauthorized = (message = 'missing or invalid credentials') => new HubError(401, 'unauthorized', message)
export const forbidden = (message: string) => new HubError(403, 'forbidden', message)
export const notFound = (message: string) => new HubError(404, 'not_found', message)
export const conflict = (message: string, details?: unknown) => new HubError(409, 'conflict', message, details)
export const unprocessable = (message: string, details?: unknown) => new HubError(422, 'unprocessable', message, details)
/** Try again later: the database is away or the hub is shedding load. */
export const unavailable = (message: string, retryAfter: number) => Object.assign(new HubError(503, 'unavailable', message), { retryAfter })
