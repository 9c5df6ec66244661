// The entry point: the only place that listens and handles signals.
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import pino from 'pino'
import { app } from './app.ts'
import { EnvError, parseEnv } from './config/env.ts'
import { ConfigError } from './config/load.ts'
import type { Env } from './config/env.ts'
import { DataDirLockedError } from './db/embedded.ts'
import { DatabaseUnreachableError, startHub } from './hub.ts'
import type { Hub } from './hub.ts'
import { loggerOptions } from './logger.ts'
import { startWorkers } from './workers.ts'

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
let hub: Hub | undefined
try {
  hub = await startHub(env, { log, announce: line => process.stderr.write(line) })
  const started = hub
  const fastify = Fastify({ loggerInstance: log })
  await fastify.register(app, { hub, surface: env.HUB_ROLE === 'worker' ? 'health' : 'api' })
  // Listen before starting workers: a port in use then stops the start before any job is taken.
  const address = await fastify.listen({ port: env.PORT, host: env.HOST })
  const workers = env.HUB_ROLE === 'api' ? undefined : await startWorkers(hub)

  // On a signal: stop taking requests and finish those in flight, stop workers (in-flight jobs
  // finish within the grace period), then close connections and the embedded database.
  closeWithGrace({ delay: env.HUB_SHUTDOWN_GRACE_MS + 5_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    await fastify.close()
    await workers?.stop()
    await started.close()
  })
  log.info({ address, role: env.HUB_ROLE }, 'hub started')
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
