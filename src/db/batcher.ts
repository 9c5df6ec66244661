import { isDatabaseUnavailable } from './errors.ts'

export interface BatcherOptions<I> {
  /** Flushes in flight at once; calls made meanwhile wait and go together in the next one. */
  maxParallel?: number
  /** How much an item counts towards maxWeight and minShared (1 by default). */
  weight?: (item: I) => number
  /** The most weight one flush carries (a heavier item still goes, alone). */
  maxWeight?: number
  /**
   * While a flush is in flight, the next starts early (up to maxParallel) only once this much
   * weight waits: a few calls beside a flush in flight are cheaper sent with the next one than
   * alone, and every flush stays larger.
   */
  minShared?: number
  /** A call still waiting after this long is refused with `expired()`: nothing of it is sent. */
  maxWaitMs?: number
  expired?: () => Error
  /** With this many calls waiting, the next is refused at once with `overloaded(waiting)`. */
  maxWaiting?: number
  overloaded?: (waiting: number) => Error
}

interface Waiting<I, O> { item: I, since: number, resolve (o: O): void, reject (e: unknown): void }

/**
 * Group commit for any statement. A call settles only after a flush carrying its item has run,
 * but calls made while earlier flushes are in flight share the next one: with no load a call
 * runs at once and alone, under load hundreds share one round trip (and one WAL flush). No
 * timer, so batching never adds latency of its own. `flush` answers one result per item, in
 * order. A flush of several items that fails for anything but the database being away runs
 * again item by item, so one item's bad data stays its own failure.
 * (DataLoader batches per tick too, but neither bounds flushes in flight nor isolates failures.)
 */
export function batcher<I, O> (flush: (items: I[]) => Promise<O[]>, options: BatcherOptions<I> = {}): (item: I) => Promise<O> {
  const { maxParallel = 2, weight = () => 1, maxWeight = 500, minShared = 1, maxWaitMs, expired, maxWaiting = Infinity, overloaded } = options
  let waiting: Waiting<I, O>[] = []
  let inFlight = 0
  let scheduled = false
  let watchdog: NodeJS.Timeout | undefined

  function drain (): void {
    scheduled = false
    expire()
    while (waiting.length && inFlight < maxParallel && (inFlight === 0 || waitingAtLeast(minShared))) {
      let total = 0
      let take = 0
      while (take < waiting.length && (take === 0 || total + weight(waiting[take].item) <= maxWeight)) total += weight(waiting[take++].item)
      const batch = waiting.slice(0, take)
      waiting = waiting.slice(take)
      inFlight++
      settle(batch).finally(() => { inFlight--; drain() })
    }
    // While every flush hangs (a stalled database) nothing else calls drain: wake up when the
    // oldest waiting call is due to be refused.
    if (maxWaitMs !== undefined && waiting.length && !watchdog) {
      watchdog = setTimeout(() => { watchdog = undefined; drain() }, waiting[0].since + maxWaitMs + 10 - Date.now()).unref()
    }
  }

  /** Whether the waiting calls weigh `n` or more (counting no further than that). */
  function waitingAtLeast (n: number): boolean {
    let total = 0
    for (const w of waiting) if ((total += weight(w.item)) >= n) return true
    return false
  }

  function expire (): void {
    if (maxWaitMs === undefined || !waiting.length) return
    const limit = Date.now() - maxWaitMs
    if (waiting[0].since > limit) return
    const late = waiting.filter(w => w.since <= limit)
    waiting = waiting.filter(w => w.since > limit)
    for (const w of late) w.reject(expired?.() ?? new Error(`waited over ${maxWaitMs} ms`))
  }

  async function settle (batch: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await flush(batch.map(w => w.item))
      batch.forEach((w, i) => w.resolve(results[i]))
    } catch (err) {
      if (batch.length === 1 || isDatabaseUnavailable(err)) {
        batch.forEach(w => w.reject(err))
        return
      }
      for (const w of batch) await flush([w.item]).then(([o]) => w.resolve(o), e => w.reject(e))
    }
  }

  return item => new Promise<O>((resolve, reject) => {
    if (waiting.length >= maxWaiting) {
      reject(overloaded?.(waiting.length) ?? new Error(`${waiting.length} calls waiting`))
      return
    }
    waiting.push({ item, since: Date.now(), resolve, reject })
    // Let the calls made in this same turn of the event loop join the flush.
    if (!scheduled) {
      scheduled = true
      setImmediate(drain)
    }
  })
}
