import type { PgBoss } from 'pg-boss'
import type { Logger } from 'pino'
import type { Breakers } from '../connectors/breaker.ts'
import type { Pace } from '../connectors/pace.ts'
import type { WithSlot } from '../connectors/slots.ts'
import type { Pool } from '../db/pool.ts'
import type { SystemRegistry } from '../stores/systems.ts'

/** What job handlers work with. */
export interface PipelineContext {
  pool: Pool
  boss: PgBoss
  systems: SystemRegistry
  log: Logger
  /** Waits for the system's requests-per-second slot. */
  pace: Pace
  /** Holds one of a system's maxConcurrent slots while a job talks to it. */
  withSlot: WithSlot
  /** Each system's circuit breaker (src/connectors/breaker.ts). */
  breaker: Breakers
}
