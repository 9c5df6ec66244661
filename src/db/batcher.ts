import { isDatabaseUnavailable } from './errors.ts'

export interface BatcherOptions {
  /** Flushes in flight at once; calls made meanwhile wait and go together in the next one. */
  maxParallel?: number
  /** Items in one flush. */
  maxItems?: number
}

interface Waiting<I, O> { item: I, resolve (o: O): void, reject (e: unknown): void }

/**
 * Group commit for any statement. A call settles only after a flush carrying its item has run,
 * but calls made while earlier flushes are in flight share the next one: with no load a call
 * runs at once and alone, under load hundreds share one round trip (and one WAL flush). No
 * timer, so batching never adds latency of its own. `flush` answers one result per item, in
 * order. A flush of several items that fails for anything but the database being away runs
 * again item by item, so one item's bad data stays its own failure.
 * (DataLoader batches per tick too, but neither bounds flushes in flight nor isolates failures.)
 */
export function batcher<I, O> (flush: (items: I[]) => Promise<O[]>, { maxParallel = 2, maxItems = 500 }: BatcherOptions = {}): (item: I) => Promise<O> {
  let waiting: Waiting<I, O>[] = []
  let inFlight = 0
  let scheduled = false

  function drain (): void {
    scheduled = false
    while (waiting.length && inFlight < maxParallel) {
      const batch = waiting.slice(0, maxItems)
      waiting = waiting.slice(maxItems)
      inFlight++
      settle(batch).finally(() => { inFlight--; drain() })
    }
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
    waiting.push({ item, resolve, reject })
    // Let the calls made in this same turn of the event loop join the flush.
    if (!scheduled) {
      scheduled = true
      setImmediate(drain)
    }
  })
}
