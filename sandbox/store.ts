// The in-memory records of one sandbox system: one Map per collection, timestamps that only
// move forward, change listeners.

export type RecordType = 'customer' | 'product' | 'order'
export const RECORD_TYPES: readonly RecordType[] = ['customer', 'product', 'order']
export const COLLECTIONS: Record<RecordType, string> = {
  customer: 'customers',
  product: 'products',
  order: 'orders',
}

// Records are free-form on purpose: each system has its own shape and tests may put odd ones.
export type SandboxRecord = { id: string; createdAt: string; updatedAt: string; [field: string]: any }

export const clone = <T>(v: T): T => structuredClone(v)

// Timestamps must be strictly increasing per change (clients page by updatedAt), so the clock
// moves at least one millisecond forward per tick. It may run ahead of wall time during bursts,
// which is the safe direction for "modified since" polling.
export class MonotonicClock {
  #last = 0
  now(): string {
    this.#last = Math.max(Date.now(), this.#last + 1)
    return new Date(this.#last).toISOString()
  }
}

export type ChangeListener = (type: RecordType, before: SandboxRecord | undefined, after: SandboxRecord | undefined) => void

// One Map per collection. A changed record is deleted and re-inserted, so iteration order is
// always updatedAt order (the clock is strictly increasing): listing needs no sort.
export class Store {
  #maps = new Map<RecordType, Map<string, SandboxRecord>>(RECORD_TYPES.map((t) => [t, new Map()]))
  #seq = new Map<RecordType, number>(RECORD_TYPES.map((t) => [t, 0]))
  #clock = new MonotonicClock()
  #listeners: ChangeListener[] = []
  #newId: (type: RecordType, seq: number) => string

  constructor(newId: (type: RecordType, seq: number) => string) {
    this.#newId = newId
  }

  onChange(fn: ChangeListener): void {
    this.#listeners.push(fn)
  }

  #map(type: RecordType): Map<string, SandboxRecord> {
    const m = this.#maps.get(type)
    if (!m) throw new Error(`unknown record type: ${String(type)}`)
    return m
  }

  nextId(type: RecordType): string {
    const m = this.#map(type)
    for (;;) {
      const seq = (this.#seq.get(type) ?? 0) + 1
      this.#seq.set(type, seq)
      const id = this.#newId(type, seq)
      if (!m.has(id)) return id // ids put explicitly by tests may already occupy a slot
    }
  }

  get(type: RecordType, id: string): SandboxRecord | undefined {
    return this.#map(type).get(id)
  }

  has(type: RecordType, id: string): boolean {
    return this.#map(type).has(id)
  }

  values(type: RecordType): IterableIterator<SandboxRecord> {
    return this.#map(type).values()
  }

  count(type: RecordType): number {
    return this.#map(type).size
  }

  // Writes the full record (fields beyond id/createdAt/updatedAt) and stamps timestamps.
  write(type: RecordType, id: string, fields: Record<string, unknown>): { record: SandboxRecord; created: boolean } {
    const m = this.#map(type)
    const before = m.get(id)
    const now = this.#clock.now()
    const createdAt = before?.createdAt ?? (typeof fields.createdAt === 'string' ? fields.createdAt : now)
    const record: SandboxRecord = { ...clone(fields), id, createdAt, updatedAt: now }
    m.delete(id)
    m.set(id, record)
    for (const fn of this.#listeners) fn(type, before, record)
    return { record, created: !before }
  }

  delete(type: RecordType, id: string): boolean {
    const m = this.#map(type)
    const before = m.get(id)
    if (!before) return false
    m.delete(id)
    for (const fn of this.#listeners) fn(type, before, undefined)
    return true
  }
}
