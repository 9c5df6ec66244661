// In `all` mode (the default) the API and the job workers run in separate processes: a pipeline
// saturated with work keeps its own event loop busy, not the one answering webhooks. The parent
// owns the database (the embedded server, its data-directory lock, migrations, queues, the
// systems config) and forks this same entry as HUB_ROLE=worker children that only take jobs.
// A child lives only as long as its parent: the IPC channel closes whenever the parent ends,
// even by SIGKILL, and the child then finishes its in-flight jobs and exits.
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import type { Logger } from 'pino'
import { heapFlags } from './heap.ts'
import { registry } from './metrics.ts'

// Marks a child forked by an `all` process (not a user setting: a HUB_ROLE=worker started by
// hand listens for /health and /ready; a child has no port of its own).
const CHILD = 'HUB_WORKER_CHILD'
const READY = 'hub:ready'
const METRICS = 'hub:metrics'
// Said just before the parent closes the channel to stop its children, so that a child tells
// the hub stopping (and on which signal) from its parent gone without a word.
const STOP = 'hub:stop'
// A child that does not answer within this long is left out of one scrape.
const METRICS_TIMEOUT_MS = 2_000

// A child that crashes (exits non-zero or is killed) is restarted after 1 s, doubling up to 30 s
// while it keeps crashing; one that ran STABLE_MS before crashing starts over at 1 s.
const FIRST_DELAY_MS = 1_000
const MAX_DELAY_MS = 30_000
const STABLE_MS = 60_000

/** This process is a worker child of an `all` hub process. */
export const isWorkerChild = () => process.env[CHILD] === '1' && typeof process.send === 'function'

// Until its workers run, a child has nothing to finish: its parent gone, it exits at once.
let parentGone: () => void = () => process.exit(1)

/** In a child, first thing: end with the parent, should it go away while this child starts. */
export function watchParent (): void {
  process.once('disconnect', () => parentGone())
  // It may have gone while this process loaded its modules, with no one listening yet.
  if (!process.connected) parentGone()
}

/**
 * In a child whose workers run: tell the parent, and from now on `close` when the parent stops
 * it or is gone, with the reason.
 */
export function serveParent (close: (reason: string) => void): void {
  parentGone = () => close('the hub process is gone')
  if (!process.connected) return parentGone()
  process.on('message', async (message: { type?: string, id?: number, signal?: string }) => {
    if (message?.type === STOP) return close(`the hub process is stopping${message.signal ? ` (${message.signal})` : ''}`)
    if (message?.type !== METRICS) return
    const metrics = await registry.getMetricsAsJSON()
    if (process.connected) process.send!({ type: METRICS, id: message.id, metrics })
  })
  process.send!(READY)
}

export interface WorkerProcesses {
  /** Every child is running its workers (none is starting or waiting to be restarted). */
  ready (): boolean
  /** Each running child's metrics (registry.getMetricsAsJSON() there). */
  metrics (): Promise<object[]>
  /**
   * Restart no more; let every child finish its in-flight jobs and exit, killing one that
   * overstays `killAfterMs`. `signal`: the one that stops this process, for the children's logs.
   */
  stop (killAfterMs: number, signal?: string): Promise<void>
}

export interface WorkerProcessOptions {
  /** The module to fork: the process entry (src/server.ts). */
  entry: string
  count: number
  /** The resolved database URL: the children share the parent's embedded server. */
  databaseUrl: string
  log: Logger
}

/** Fork `count` worker children and resolve once each runs its workers; rejects if one exits first. */
export async function startWorkerProcesses (opts: WorkerProcessOptions): Promise<WorkerProcesses> {
  const slots = Array.from({ length: opts.count }, (_, i) => supervise(opts, i))
  const processes: WorkerProcesses = {
    ready: () => slots.every(s => s.ready()),
    metrics: async () => (await Promise.all(slots.map(s => s.metrics()))).filter(m => m !== undefined),
    stop: async (killAfterMs, signal) => { await Promise.all(slots.map(s => s.stop(killAfterMs, signal))) }
  }
  try {
    await Promise.all(slots.map(s => s.started))
  } catch (err) {
    await processes.stop(0)
    throw err
  }
  return processes
}

function supervise (opts: WorkerProcessOptions, worker: number) {
  let child: ChildProcess | undefined
  let ready = false
  let stopping = false
  let crashes = 0
  let restart: NodeJS.Timeout | undefined
  let first: { resolve (): void, reject (err: Error): void } | undefined
  const started = new Promise<void>((resolve, reject) => { first = { resolve, reject } })

  const spawn = () => {
    const since = Date.now()
    const current = fork(opts.entry, [], {
      execArgv: [...process.execArgv, ...heapFlags()],
      // HUB_CONFIG is the parent's to load; the child reads the systems from the database.
      env: { ...process.env, HUB_ROLE: 'worker', DATABASE_URL: opts.databaseUrl, HUB_CONFIG: '', [CHILD]: '1' },
      // Its log lines go to the same stdout and stderr as the parent's.
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    child = current
    current.on('message', message => {
      if (message !== READY) return
      ready = true
      first?.resolve()
      first = undefined
    })
    current.once('exit', (code, signal) => {
      ready = false
      if (stopping) return
      if (first) {
        first.reject(new Error(`the worker process exited (${signal ?? `code ${code}`}) before its workers started`))
        first = undefined
        return
      }
      // Exit code 0 is a child stopped by a signal of its own (as a service manager signals every
      // process of the service at once): stopping, not crashing.
      if (code === 0) {
        opts.log.info({ worker, childPid: current.pid }, 'worker process stopped by a signal of its own; not restarted')
        return
      }
      // A crash after a stable run is a first crash again: 1 s, not half of it.
      crashes = Date.now() - since >= STABLE_MS ? 1 : crashes + 1
      const restartInMs = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (crashes - 1))
      opts.log.error({ worker, childPid: current.pid, code, signal, restartInMs }, 'worker process exited; restarting it')
      restart = setTimeout(spawn, restartInMs)
    })
  }
  spawn()

  let asked = 0
  const metrics = async (): Promise<object | undefined> => {
    const current = child
    if (!ready || !current?.connected) return undefined
    const id = ++asked
    return await new Promise(resolve => {
      const timer = setTimeout(() => done(undefined), METRICS_TIMEOUT_MS)
      const onMessage = (message: { type?: string, id?: number, metrics?: object }) => {
        if (message?.type === METRICS && message.id === id) done(message.metrics)
      }
      const done = (value: object | undefined) => {
        clearTimeout(timer)
        current.off('message', onMessage)
        resolve(value)
      }
      current.on('message', onMessage)
      current.send({ type: METRICS, id }, err => { if (err) done(undefined) })
    })
  }

  return {
    started,
    metrics,
    ready: () => ready,
    async stop (killAfterMs: number, signal?: string) {
      stopping = true
      clearTimeout(restart)
      const last = child
      if (!last || last.exitCode !== null || last.signalCode !== null) return
      const exited = new Promise(resolve => last.once('exit', resolve))
      // Closing the channel is the child's signal to stop, as when the parent dies; the word
      // before it says why.
      if (last.connected) last.send({ type: STOP, signal }, () => { if (last.connected) last.disconnect() })
      const kill = setTimeout(() => {
        opts.log.error({ worker, childPid: last.pid }, 'worker process still running after the grace period: killed')
        last.kill('SIGKILL')
      }, killAfterMs)
      await exited
      clearTimeout(kill)
    }
  }
}
