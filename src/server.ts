// The entry point: the only place that listens and handles signals.
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import pino from 'pino'
import { app } from './app.ts'
import { EnvError, parseEnv } from './config/env.ts'
import { ConfigError } from './config/load.ts'
import type { Env } from './config/env.ts'
import { startHub } from './hub.ts'
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

const log = pino(loggerOptions(env.LOG_LEVEL))
try {
  const hub = await startHub(env, { log, announce: line => process.stderr.write(line) })
  const fastify = Fastify({ loggerInstance: log })
  await fastify.register(app, { hub, surface: env.HUB_ROLE === 'worker' ? 'health' : 'api' })
  const workers = env.HUB_ROLE === 'api' ? undefined : await startWorkers(hub)

  // On a signal: stop taking requests and finish those in flight, stop workers (in-flight jobs
  // finish within the grace period), then close connections and the embedded database.
  closeWithGrace({ delay: env.HUB_SHUTDOWN_GRACE_MS + 5_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    await fastify.close()
    await workers?.stop()
    await hub.close()
  })

  const address = await fastify.listen({ port: env.PORT, host: env.HOST })
  log.info({ address, role: env.HUB_ROLE }, 'hub started')
} catch (err) {
  // A bad config file is the user's to fix: say exactly where, without a stack trace.
  if (err instanceof ConfigError) {
    process.stderr.write(`invalid systems config:\n${err.message}\n`)
    process.exit(2)
  }
  log.fatal({ err }, 'hub failed to start')
  process.exit(1)
}
