import type { PgBoss } from 'pg-boss'
import type { Logger } from 'pino'
import type { Breakers } from '../connectors/breaker.ts'
import type { Pace } from '../connectors/pace.ts'
import type { WithSlot } from '../connectors/slots.ts'
import type { Pool } from '../db/pool.ts'
import type { HistoryEntry } from '../stores/history.ts'
import type { NewLink, RecordFor } from '../stores/records.ts'
import type { SystemRegistry } from '../stores/systems.ts'
import type { RecordWrite, Written } from './write-record.ts'
import type { Claim } from './runner.ts'

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
  // The jobs of a batch (and every batch of the process) run concurrently; these share their
  // round trips: calls made while a flush is in flight go together in the next (src/db/batcher.ts).
  /** Writes a canonical record through writeRecords, in one transaction with other jobs' writes. */
  writeRecord: (w: RecordWrite) => Promise<Written>
  /** Adds a history row, in one statement with other jobs' rows. */
  history: (entry: HistoryEntry) => Promise<void>
  /** Reads a record and its external id in one system, in one query with other jobs' reads. */
  recordFor: (wanted: { recordId: string, systemId: string }) => Promise<RecordFor>
  /** Adds a link that must survive a crash (the destination has the record now); false if taken. */
  linkDurably: (link: NewLink) => Promise<boolean>
  /** In a worker process: a claim on the deliveries a transaction fans out (src/pipeline/runner.ts). */
  claims?: () => Claim
}
