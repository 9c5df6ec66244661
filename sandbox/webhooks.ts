// A sandbox system's outgoing webhooks: one POST per change, or arrays of events (batched per
// tick) for the benchmarks. Failures are counted, never thrown.
import type { RecordType } from './store.ts'

export type Action = 'create' | 'update' | 'delete'

export interface EmitTarget {
  url: string
  key?: string
  headers?: Record<string, string>
  scopePrefix?: string // prepended to every scope, e.g. 'erp:' → 'erp:customer/update'
}

export interface WebhookEvent {
  scope: string
  id: string
}

const WEBHOOK_TIMEOUT_MS = 10_000
const MAX_BATCH = 1000

export class WebhookEmitter {
  target: EmitTarget | null = null
  emitted = 0 // requests sent (a batched post counts once)
  emitErrors = 0 // requests that failed (network error or non-2xx)
  #batched: boolean
  #inflight = new Set<Promise<void>>()
  #batch: WebhookEvent[] = []
  #batchScheduled = false
  #closing = new AbortController()

  constructor(batched: boolean) {
    this.#batched = batched
  }

  emit(type: RecordType, action: Action, id: string): void {
    if (!this.target) return
    const event = { scope: `${this.target.scopePrefix ?? ''}${type}/${action}`, id }
    if (!this.#batched) return this.#post(event)
    this.#batch.push(event)
    if (!this.#batchScheduled) {
      this.#batchScheduled = true
      setImmediate(() => this.#drainBatch())
    }
  }

  // Until every webhook sent so far has been answered.
  async flush(): Promise<void> {
    // new posts can start while we wait (batches scheduled, retries by callers), so loop
    while (this.#inflight.size || this.#batch.length) {
      if (this.#batch.length) this.#drainBatch()
      await Promise.all([...this.#inflight])
    }
  }

  // Cuts the requests in flight short; `settled` then waits for them to finish failing.
  abort(): void {
    this.#closing.abort()
  }

  async settled(): Promise<void> {
    await Promise.all([...this.#inflight])
  }

  #drainBatch(): void {
    this.#batchScheduled = false
    while (this.#batch.length) this.#post(this.#batch.splice(0, MAX_BATCH))
  }

  #post(payload: WebhookEvent | WebhookEvent[]): void {
    const to = this.target
    if (!to) return
    this.emitted++
    const p = fetch(to.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(to.key ? { authorization: `Bearer ${to.key}` } : {}),
        ...to.headers,
      },
      body: JSON.stringify(payload),
      signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
    })
      .then(async (res) => {
        await res.arrayBuffer() // drain so the connection can be reused
        if (!res.ok) this.emitErrors++
      })
      // the receiver being down must never take the system down with it
      .catch(() => {
        this.emitErrors++
      })
      .finally(() => {
        this.#inflight.delete(p)
      })
    this.#inflight.add(p)
  }
}
