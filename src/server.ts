// The entry point: the only place that listens and handles signals.
import { fileURLToPath } from 'node:url'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import pino from 'pino'
import { app, serverOptions } from './app.ts'
import { EnvError, parseEnv } from './config/env.ts'
import { ConfigError } from './config/load.ts'
import type { Env } from './config/env.ts'
import { DataDirLockedError } from './db/embedded.ts'
import { DatabaseUnreachableError, startHub } from './hub.ts'
import type { Hub } from './hub.ts'
import { loggerOptions } from './logger.ts'
import { mergeMetricsFrom } from './metrics.ts'
import { startPump } from './ingest/pump.ts'
import { startWorkers } from './workers.ts'
import { isWorkerChild, serveParent, startWorkerProcesses, watchParent } from './worker-process.ts'

let env: Env
try {
  env = parseEnv()
} catch (err) {
  if (!(err instanceof EnvError)) throw err
  process.stderr.write(err.message + '\n')
  process.exit(2)
}

// Why a listen failed, for the errors a user fixes with HOST or PORT.
const listenReasons: Record<string, string> = {
  EADDRINUSE: 'the port is in use (set PORT)',
  EACCES: 'permission denied (set PORT to 1024 or above)',
  EADDRNOTAVAIL: 'no such address on this machine (set HOST)'
}

/** The one line for a start that failed through the user's setup, without a stack trace. */
function userError (err: unknown): string | undefined {
  if (err instanceof ConfigError) return `invalid systems config:\n${err.message}`
  if (err instanceof DataDirLockedError || err instanceof DatabaseUnreachableError) return err.message
  const reason = listenReasons[(err as NodeJS.ErrnoException).code ?? '']
  if ((err as NodeJS.ErrnoException).syscall === 'listen' && reason) return `the hub cannot listen on ${env.HOST}:${env.PORT}: ${reason}`
  return undefined
}

const log = pino(loggerOptions(env.LOG_LEVEL))
const workerChild = isWorkerChild()
if (workerChild) watchParent()
// What one process may take to close by itself: its in-flight jobs' grace, then connections.
const closeDelay = env.HUB_SHUTDOWN_GRACE_MS + 5_000
let hub: Hub | undefined
try {
  hub = await startHub(env, { log, announce: line => process.stderr.write(line), setup: !workerChild })
  const started = hub
  if (workerChild) {
    // A worker process of an `all` hub: no port, only jobs. It stops on a signal of its own, when
    // its parent stops it, or when its parent is gone (dying).
    const workers = await startWorkers(hub, { pump: false })
    let closing = false
    let reason: string | undefined
    const { close } = closeWithGrace({ delay: closeDelay, logger: log }, async ({ signal, err }) => {
      closing = true
      if (err) log.error({ err }, 'worker process shutting down after an error')
      else log.info({ signal, reason }, 'worker process shutting down')
      await workers.stop()
      await started.close()
      log.info('worker process stopped')
    })
    serveParent(why => {
      if (closing) return
      reason = why
      void close()
    })
    log.info({ role: 'worker' }, 'worker process started')
  } else {
    await serve(started)
  }
} catch (err) {
  // Whatever failed, stop what this start brought up (the embedded database included).
  await hub?.close().catch(() => {})
  const line = userError(err)
  if (line) {
    process.stderr.write(line + '\n')
    process.exit(2)
  }
  log.fatal({ err }, 'hub failed to start')
  process.exit(1)
}

/**
 * Listen, then run the workers: here (worker, or all with HUB_WORKERS=0: one process, the least
 * memory), in child processes (all), or not at all (api).
 */
async function serve (hub: Hub): Promise<void> {
  let children: Awaited<ReturnType<typeof startWorkerProcesses>> | undefined
  const forks = env.HUB_ROLE === 'all' && env.HUB_WORKERS > 0
  // In `all` mode the API is ready once its worker processes are too (not while they start).
  const ready = async () => (forks ? children?.ready() ?? false : true) && await hub.ready()
  const fastify = Fastify({ ...serverOptions, loggerInstance: log })
  await fastify.register(app, { hub: { ...hub, ready }, surface: env.HUB_ROLE === 'worker' ? 'health' : 'api' })
  // Listen before starting workers: a port in use then stops the start before any job is taken.
  const address = await fastify.listen({ port: env.PORT, host: env.HOST })
  try {
    const workers = env.HUB_ROLE === 'worker' || (env.HUB_ROLE === 'all' && !forks) ? await startWorkers(hub) : undefined
    // The webhook backlog's pump runs beside in-process workers, or else here, in the API
    // process: mostly idle while the pipeline is busy, where a worker process's busy event loop
    // stretched each pass's round trips (passes of ~60 ms there under the e2e burst, ~9 ms here).
    const pump = workers ? undefined : await startPump(hub)
    children = forks
      ? await startWorkerProcesses({ entry: fileURLToPath(import.meta.url), count: env.HUB_WORKERS, databaseUrl: hub.databaseUrl, log })
      : undefined
    if (children) mergeMetricsFrom(children.metrics)

    // On a signal: stop taking requests and finish those in flight, stop workers (in-flight jobs
    // finish within the grace period; a child process gets its own close time before it is
    // killed), then close connections and the embedded database.
    closeWithGrace({ delay: closeDelay + (children ? 5_000 : 0), logger: log }, async ({ signal, err }) => {
      if (err) log.error({ err }, 'shutting down after an error')
      else log.info({ signal }, 'shutting down')
      await fastify.close()
      await workers?.stop()
      await pump?.stop()
      await children?.stop(closeDelay + 1_000, signal)
      await hub.close()
      log.info('hub stopped')
    })
  } catch (err) {
    await fastify.close()
    throw err
  }
  log.info({ address, role: env.HUB_ROLE, workerProcesses: children ? env.HUB_WORKERS : 0 }, 'hub started')
}
