import type { PgBoss } from 'pg-boss'
import type { Logger } from 'pino'
import { POLL } from '../queue/queues.ts'
import type { SystemRegistry } from '../stores/systems.ts'
import type { PollJob } from './run.ts'
import { pollKey } from './trigger.ts'

/**
 * Make pg-boss's schedules for the poll queue match the systems: one per polled (system, type),
 * keyed like its runs so a scheduled run and a manual one never overlap. pg-boss keeps schedules
 * in the database and fires each once across all processes; any process may reconcile them.
 */
export async function syncSchedules (boss: PgBoss, systems: Pick<SystemRegistry, 'all'>, log: Pick<Logger, 'error'>): Promise<void> {
  const wanted = new Map<string, { cron: string, data: PollJob }>()
  for (const system of await systems.all()) {
    for (const flow of system.flows) {
      if (flow.enabled && flow.direction === 'inbound' && flow.poll && system.types[flow.type]?.list) {
        wanted.set(pollKey(system.id, flow.type), { cron: flow.poll.schedule, data: { system: system.id, type: flow.type } })
      }
    }
  }
  const existing = new Map((await boss.getSchedules(POLL)).map(s => [s.key, s.cron]))
  for (const key of existing.keys()) {
    if (!wanted.has(key)) await boss.unschedule(POLL, key)
  }
  for (const [key, { cron, data }] of wanted) {
    if (existing.get(key) === cron) continue
    // One schedule pg-boss refuses must not keep the others from being made (one did, when an
    // empty cron got past the config check).
    await boss.schedule(POLL, cron, data, { key, singletonKey: key, tz: 'UTC' })
      .catch(err => log.error({ err, schedule: key, cron }, 'poll schedule not made'))
  }
}
