// The call log and fault injection of a sandbox system: which requests match a filter, and
// the rules (fail, hang) that the next matching requests use up.

export interface CallRecord {
  method: string
  path: string // without the query string
  url: string // with the query string
  query: Record<string, unknown>
  body: unknown
  headers: Record<string, string | string[] | undefined>
  status?: number // set once the response has been sent
  at: number // Date.now() when the request arrived (benchmarks measure delivery latency)
}

export interface CallFilter {
  method?: string
  pathPrefix?: string
}

export interface FailOptions extends CallFilter {
  retryAfterSeconds?: number
  body?: unknown
}


// Sleeps that close() can cut short, so a hanging request never holds the server open.
export class Sleeper {
  #pending = new Set<() => void>()
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#pending.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#pending.add(done)
    })
  }
  wakeAll(): void {
    for (const done of [...this.#pending]) done()
  }
}

export interface FaultRule extends CallFilter {
  remaining: number
  status?: number
  retryAfterSeconds?: number
  body?: unknown
  ms?: number
}

export function matches(call: { method: string; path: string }, f: CallFilter): boolean {
  if (f.method && f.method.toUpperCase() !== call.method) return false
  if (f.pathPrefix && !call.path.startsWith(f.pathPrefix)) return false
  return true
}

// Takes one use of the first matching rule with uses left.
export function takeRule(rules: FaultRule[], call: { method: string; path: string }): FaultRule | undefined {
  const i = rules.findIndex((r) => r.remaining > 0 && matches(call, r))
  if (i < 0) return undefined
  const rule = rules[i]!
  rule.remaining--
  if (rule.remaining === 0) rules.splice(i, 1)
  return rule
}
