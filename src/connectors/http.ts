import { Agent } from 'undici'
import type { Dispatcher } from 'undici'
import type { Auth, SystemConfig } from '../config/systems.ts'
import { CENSOR } from '../redact.ts'
import type { Trace } from '../trace.ts'
import { AddressRefused, guardedConnect } from './address-guard.ts'
import type { Pace } from './pace.ts'
import { ConnectorError, isTransientStatus, parseRetryAfter } from './errors.ts'
import { observeCall } from '../metrics.ts'

// One keep-alive pool per origin for the whole process: connection set-up is most of the cost
// of a small call on loopback, and most of the tail latency on a real network. Systems connect
// through the address guard unless they allow private networks.
const pool = { connections: 64, keepAliveTimeout: 30_000, pipelining: 1 }
const agent = new Agent({ ...pool, connect: guardedConnect })
const privateAgent = new Agent(pool)

export interface CallRequest {
  method: string
  /** Path with query, already filled in (see fillTemplate). */
  path: string
  body?: unknown
  /** Step name in a debug trace ('fetch', 'create', 'lookup' …). */
  step: string
  /** Extra request headers (an idempotency key). */
  headers?: Record<string, string>
}

export interface CallResponse { status: number, body: unknown }

function authHeaders (auth: Auth): Record<string, string> {
  switch (auth.kind) {
    case 'bearer': return { authorization: `Bearer ${auth.token}` }
    case 'basic': return { authorization: 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64') }
    case 'header': return { [auth.name.toLowerCase()]: auth.value }
    default: return {}
  }
}

async function readCapped (body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > max) {
      body.destroy()
      throw new ConnectorError(`response larger than ${max} bytes`, { transient: false })
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * One HTTP call to a system: its auth, its timeout, no redirects followed (a redirect to another
 * host could leak credentials), a response size cap. Non-2xx answers become ConnectorErrors
 * classified as transient or permanent; a 404 carries status 404 for callers that skip it.
 */
export async function callSystem (system: SystemConfig, req: CallRequest, trace?: Trace, pace?: Pace): Promise<CallResponse> {
  await pace?.(system)
  // Appended, not resolved: a base URL's own path prefix ('/api') is kept, and so is its query.
  // Sent as origin and path, never re-parsed as a URL, which would resolve an id of '..' away.
  const base = new URL(system.baseUrl)
  let path = base.pathname.replace(/\/$/, '') + req.path
  if (base.search) path += (req.path.includes('?') ? '&' : '?') + base.search.slice(1)
  const auth = authHeaders(system.auth)
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers, ...auth }
  let payload: string | undefined
  if (req.body !== undefined) {
    payload = JSON.stringify(req.body)
    headers['content-type'] = 'application/json'
  }
  const started = Date.now()
  // The auth header is censored by name, whatever it is called (X-Auth-Key …).
  const shownAuth = Object.fromEntries(Object.keys(auth).map(k => [k, CENSOR]))
  const traced = trace?.start(req.step, { method: req.method, url: base.origin + path, headers: { ...headers, ...shownAuth }, body: req.body })
  let status: number | undefined
  let text = ''
  let retryAfter: string | string[] | undefined
  try {
    const res = await (system.allowPrivateNetwork ? privateAgent : agent).request({
      origin: base.origin,
      path,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: payload,
      // undici follows no redirects unless told to.
      signal: AbortSignal.timeout(system.timeoutMs)
    })
    status = res.statusCode
    retryAfter = res.headers['retry-after']
    text = await readCapped(res.body, system.maxResponseBytes)
  } catch (err) {
    const error = err instanceof ConnectorError
      ? err
      : err instanceof AddressRefused
        ? new ConnectorError(`${system.id}: ${err.message}; set allowPrivateNetwork: true on the system to allow it`, { transient: false })
        : new ConnectorError(`${req.method} ${req.path} ${describeNetworkError(err, system.timeoutMs)}`, { transient: true })
    observeCall(system.id, 'network', started)
    traced?.end({ error: error.message, ms: Date.now() - started })
    throw error
  }
  observeCall(system.id, status, started)
  const body = parseBody(text)
  traced?.end({ status, body, ms: Date.now() - started })
  if (status >= 200 && status < 300) return { status, body }
  const detail = errorDetail(body, text)
  if (status >= 300 && status < 400) {
    throw new ConnectorError(`${req.method} ${req.path} answered ${status} (redirects are not followed)`, { status, transient: false })
  }
  throw new ConnectorError(`${req.method} ${req.path} answered ${status}${detail ? `: ${detail}` : ''}`, {
    status,
    transient: isTransientStatus(status),
    retryAfterMs: parseRetryAfter(retryAfter)
  })
}

function parseBody (text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** The system's own error message, short, for the error log. */
function errorDetail (body: unknown, text: string): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>
    const m = b.error ?? b.message ?? b.detail ?? b.title
    if (typeof m === 'string') return m.slice(0, 500)
    if (m && typeof m === 'object' && typeof (m as { message?: unknown }).message === 'string') return String((m as { message: string }).message).slice(0, 500)
  }
  return text.slice(0, 500)
}

function describeNetworkError (err: unknown, timeoutMs: number): string {
  const e = err as { name?: string, code?: string, message?: string }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${timeoutMs} ms`
  return `failed to connect: ${e.code ?? e.message ?? String(err)}`
}

/** Fill `{name}` placeholders from `values` (URL-encoded for paths and queries, raw for bodies). */
export function fillTemplate (template: string, values: Record<string, unknown>, encode = encodeURIComponent): string {
  return template.replace(/\{([^{}]+)\}/g, (_m, name: string) => {
    const value = values[name]
    if (value === undefined || value === null || value === '') {
      throw new ConnectorError(`no value for {${name}} in ${template}`, { transient: false })
    }
    return encode(String(value))
  })
}

// encodeURIComponent leaves '.' alone, so an id of '..' would make /customers/{id} mean '/'.
const dotSegment = (segment: string) => segment === '.' || segment === '..' ? segment.replaceAll('.', '%2E') : segment

/** Path plus the endpoint's configured query, both filled in; no dot segment survives in the path. */
export function endpointPath (endpoint: { path: string, query?: Record<string, string> }, values: Record<string, unknown>): string {
  const filled = fillTemplate(endpoint.path, values)
  const q = filled.indexOf('?')
  const path = (q < 0 ? filled : filled.slice(0, q)).split('/').map(dotSegment).join('/') + (q < 0 ? '' : filled.slice(q))
  const query = Object.entries(endpoint.query ?? {})
  if (!query.length) return path
  // URLSearchParams encodes the values itself.
  const params = new URLSearchParams(query.map(([k, v]) => [k, fillTemplate(v, values, String)]))
  return path + (path.includes('?') ? '&' : '?') + params.toString()
}
