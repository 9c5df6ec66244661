import { PgBoss } from 'pg-boss'
import type { Queue } from 'pg-boss'
import type { Logger } from 'pino'

/** A queue the hub uses, with the options it is created with. */
export type QueueDefinition = Queue

const SUPERVISE_SECONDS = 5
const INSTANCE_BEAT_SECONDS = 5

// Filled by the pipeline modules that own each queue (see src/queue/queues.ts).
export async function createBoss (connectionString: string, log: Logger, max = 10): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString,
    max,
    application_name: 'hub-queue',
    // pg-boss's own connections fetch and complete jobs: a completion lost in a crash only means
    // the job runs again. Inserts that clients are told about go through our pool instead.
    options: '-c synchronous_commit=off',
    // Workers wake on NOTIFY in ~2 ms instead of waiting for the next poll.
    useListenNotify: true,
    // Lost heartbeats and expired jobs are found by the supervisor's monitor pass, which runs at
    // the longer of these two intervals (60 s by default): every 5 s, a dead worker's jobs come
    // back HEARTBEAT_SECONDS to HEARTBEAT_SECONDS + 5 s after its last heartbeat.
    superviseIntervalSeconds: SUPERVISE_SECONDS,
    monitorIntervalSeconds: SUPERVISE_SECONDS,
    // The overview lists a process as live until it misses two beats: a killed one is gone from
    // it within 10 s (with the default 30 s beats it stayed ~55 s).
    instanceHeartbeatSeconds: INSTANCE_BEAT_SECONDS
  })
  boss.on('error', err => log.error({ err }, 'queue error'))
  boss.on('warning', warning => log.warn({ warning }, 'queue warning'))
  await boss.start()
  return boss
}

// Options a queue created by an older version may lack, brought up to date on start.
const UPDATABLE = ['heartbeatSeconds', 'retryLimit', 'retryDelay', 'retryBackoff', 'expireInSeconds'] as const

/** Create or update every queue the hub uses; safe to run from several processes at once. */
export async function ensureQueues (boss: PgBoss, queues: QueueDefinition[]): Promise<void> {
  for (const { name, ...options } of queues) {
    const existing = await boss.getQueue(name)
    if (existing) {
      const changed = Object.fromEntries(UPDATABLE.filter(k => options[k] !== undefined && options[k] !== existing[k]).map(k => [k, options[k]]))
      if (Object.keys(changed).length) await boss.updateQueue(name, changed)
      continue
    }
    try {
      await boss.createQueue(name, options)
    } catch (err) {
      // Another process created it between our check and our create.
      if (!(await boss.getQueue(name))) throw err
    }
  }
}
