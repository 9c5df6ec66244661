// Made-up shop customers, so a hub connected to the sandbox has something to sync.
import type { Shop } from './shop.ts'
import type { SandboxRecord } from './store.ts'

const FIRST = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Frances', 'Donald', 'Margaret', 'Ken', 'Radia']
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Liskov', 'Dijkstra', 'Allen', 'Knuth', 'Hamilton', 'Thompson', 'Perlman']
const CITIES = [['London', 'GB'], ['New York', 'US'], ['Paris', 'FR'], ['Berlin', 'DE'], ['Tokyo', 'JP']] as const

/** Puts `n` customers in the shop (the same ones on every run); each posts its webhook when emitTo is set. */
export function seedShop (shop: Shop, n: number): SandboxRecord[] {
  const seeded: SandboxRecord[] = []
  for (let i = 0; i < n; i++) {
    const first = FIRST[i % FIRST.length]!
    const last = LAST[Math.floor(i / FIRST.length) % LAST.length]!
    const [city, country] = CITIES[i % CITIES.length]!
    seeded.push(shop.put('customer', {
      email: `${first}.${last}.${i + 1}@example.com`.toLowerCase(),
      first_name: first,
      last_name: last,
      accepts_marketing: i % 3 === 0,
      tags: i % 10 === 0 ? ['vip'] : [],
      addresses: [{ kind: 'billing', line1: `${i + 1} Main Street`, city, zip: String(10000 + i), country }],
    }))
  }
  return seeded
}
