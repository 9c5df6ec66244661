// A debug job's step-by-step record: requests and responses (secrets redacted, bodies
// truncated), mapping input and output. Kept with the job and returned by GET /v1/jobs/:id.
import { CENSOR, redactText } from './redact.ts'

const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|cookie|signature/i
const MAX_TEXT = 4_000

/**
 * A copy safe to store and return: secret-looking keys censored, known secrets and URL
 * credentials redacted from every string (before cutting, so no part of one survives), long
 * strings cut.
 */
export function redact (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    const text = redactText(value)
    return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + `… (${text.length} chars)` : text
  }
  if (value === null || typeof value !== 'object' || depth > 12) return value
  if (Array.isArray(value)) {
    const items = value.slice(0, 50).map(v => redact(v, depth + 1))
    return value.length > 50 ? [...items, `… (${value.length} items)`] : items
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) =>
    [k, SECRET_KEY.test(k) && v != null ? CENSOR : redact(v, depth + 1)]))
}

export interface TraceStep {
  step: string
  at: string
  ms?: number
  [detail: string]: unknown
}

export class Trace {
  steps: TraceStep[] = []

  add (step: string, detail: Record<string, unknown>): void {
    this.steps.push({ step, at: new Date().toISOString(), ...(redact(detail) as Record<string, unknown>) })
  }

  /** Record a request now and its outcome when `end` is called. */
  start (step: string, request: Record<string, unknown>): { end (outcome: Record<string, unknown>): void } {
    const entry: TraceStep = { step, at: new Date().toISOString(), request: redact(request) }
    this.steps.push(entry)
    return { end: outcome => Object.assign(entry, redact(outcome)) }
  }
}
