import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import pino from 'pino'
import type { Logger } from 'pino'
import type { Test } from 'tap'
import { app, serverOptions } from '../../src/app.ts'
import { parseEnv } from '../../src/config/env.ts'
import { startHub } from '../../src/hub.ts'
import { loggerOptions } from '../../src/logger.ts'
import type { Hub } from '../../src/hub.ts'
import { startWorkers } from '../../src/workers.ts'
import { testDatabase } from './db.ts'

export const ADMIN_KEY = 'test-admin-key-0123456789'

export interface TestHub {
  hub: Hub
  app: FastifyInstance
  /** Base URL when started with `listen: true`. */
  url: string
  databaseUrl: string
  /** Authorization header for the bootstrap admin key. */
  auth: { authorization: string }
}

export interface TestHubOptions {
  env?: Record<string, string>
  /** Run job handlers in this process (default true). */
  workers?: boolean
  /** Listen on 127.0.0.1 on a free port (default: inject only). */
  listen?: boolean
  /** Reuse a database (e.g. a second process on the same data); default: a fresh one. */
  databaseUrl?: string
  /** Variables for ${NAME} in the systems config. */
  configEnv?: Record<string, string>
  /** The hub's logger (default: the hub's own options at LOG_LEVEL, to stdout). */
  log?: Logger
}

/** A hub on its own database, the way src/server.ts assembles one, closed when the test ends. */
export async function buildTestHub (t: Test, opts: TestHubOptions = {}): Promise<TestHub> {
  const databaseUrl = opts.databaseUrl ?? await testDatabase(t)
  const env = parseEnv({ DATABASE_URL: databaseUrl, HUB_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent', HUB_SHUTDOWN_GRACE_MS: '2000', ...opts.env })
  const log = opts.log ?? pino(loggerOptions(env.LOG_LEVEL))
  const hub = await startHub(env, { log, configEnv: opts.configEnv })
  const fastify = Fastify({ ...serverOptions, loggerInstance: log as FastifyBaseLogger })
  await fastify.register(app, { hub })
  const workers = opts.workers === false ? undefined : await startWorkers(hub)
  const url = opts.listen ? await fastify.listen({ port: 0, host: '127.0.0.1' }) : ''
  await fastify.ready()
  t.teardown(async () => {
    await fastify.close()
    await workers?.stop()
    await hub.close()
  })
  return { hub, app: fastify, url, databaseUrl, auth: { authorization: `Bearer ${ADMIN_KEY}` } }
}
