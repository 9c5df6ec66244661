import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { PgBoss } from 'pg-boss'
import pino from 'pino'
import type { Logger } from 'pino'
import { countAdminKeys, generateKey, putAdminKey } from './auth/admin-keys.ts'
import type { Env } from './config/env.ts'
import { startEmbeddedPostgres } from './db/embedded.ts'
import type { EmbeddedPostgres } from './db/embedded.ts'
import { migrate, migrationsApplied, readMigrations } from './db/migrate.ts'
import type { Migration } from './db/migrate.ts'
import { createPool } from './db/pool.ts'
import { createJobViews, dropJobViews } from './db/views.ts'
import type { Pool } from './db/pool.ts'
import { loggerOptions } from './logger.ts'
import { createBoss, ensureQueues } from './queue/boss.ts'
import { queueDefinitions } from './queue/queues.ts'
import { readSystemsFile } from './config/load.ts'
import { systemRegistry } from './stores/systems.ts'
import type { SystemRegistry } from './stores/systems.ts'

/** Everything a running hub process holds: shared by routes and job handlers. */
export interface Hub {
  env: Env
  log: Logger
  pool: Pool
  boss: PgBoss
  systems: SystemRegistry
  databaseUrl: string
  ready (): Promise<boolean>
  close (): Promise<void>
}

export interface StartOptions {
  log?: Logger
  /** Print a generated admin key to this stream (the entry point passes stderr). */
  announce?: (line: string) => void
  /** Where ${NAME} in the systems config is looked up (default: process.env). */
  configEnv?: Record<string, string | undefined>
  /**
   * Migrate, set up queues and views, and bootstrap the admin key (default true). A worker
   * process of an `all` hub skips it: its parent did it just before, and dropping the views
   * again would fail the API's monitor queries for that moment.
   */
  setup?: boolean
}

/** DATABASE_URL (or the embedded server) does not answer or refuses us: the user's to fix. */
export class DatabaseUnreachableError extends Error {}

// Node's and PostgreSQL's codes for what a user can fix, said plainly; anything else as reported.
const reasons: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable'
}

/** Connect once, so that a wrong URL is one clear line rather than a failed migration. */
async function reach (pool: Pool, databaseUrl: string): Promise<void> {
  try {
    (await pool.connect()).release()
  } catch (err) {
    const url = new URL(databaseUrl)
    const password = decodeURIComponent(url.password)
    if (url.password) url.password = '***'
    const { code, message } = err as { code?: string, message: string }
    const reason = (code && reasons[code]) ?? (password ? message.replaceAll(password, '***') : message)
    throw new DatabaseUnreachableError(`cannot reach the database at ${url}: ${reason}`)
  }
}

export async function startHub (env: Env, opts: StartOptions = {}): Promise<Hub> {
  const log = opts.log ?? pino(loggerOptions(env.LOG_LEVEL))
  const configEnv = opts.configEnv ?? process.env
  // Before any database: a config mistake is reported at once, with nothing started or stored.
  const file = env.HUB_CONFIG ? await readSystemsFile(env.HUB_CONFIG, configEnv) : undefined
  let embedded: EmbeddedPostgres | undefined
  let databaseUrl = env.DATABASE_URL
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(env.HUB_DATA_DIR)
    databaseUrl = embedded.url
    // Where to point psql: the port changes at each start, and the password stays in its file.
    const url = new URL(databaseUrl)
    url.password = '***'
    log.info({ dataDir: embedded.dataDir, url: url.href, passwordFile: embedded.passwordFile, created: embedded.created, adopted: embedded.adopted },
      'DATABASE_URL is not set: using the embedded PostgreSQL')
  }
  const pool = createPool(databaseUrl)
  let boss: PgBoss | undefined
  let systems: SystemRegistry | undefined
  try {
    await reach(pool, databaseUrl)
    const migrations = await readMigrations()
    const setup = opts.setup ?? true
    if (setup) {
      const applied = await migrate(pool, migrations)
      if (applied.length) log.info({ applied }, 'migrations applied')
      await dropJobViews(pool)
    }
    boss = await createBoss(databaseUrl, log)
    if (setup) {
      await ensureQueues(boss, queueDefinitions)
      await createJobViews(pool)
      await bootstrapAdminKey(env, pool, log, !embedded ? undefined : opts.announce)
    }
    systems = await systemRegistry(pool, configEnv, log)
    if (file) {
      await systems.replaceFileSystems(file.documents)
      log.info({ file: env.HUB_CONFIG, systems: file.systems.map(s => s.id) }, 'systems loaded')
    }
    return hubContext(env, log, pool, boss, systems, databaseUrl, migrations, embedded)
  } catch (err) {
    await boss?.stop({ graceful: false }).catch(() => {})
    await systems?.close()
    await pool.end().catch(() => {})
    await embedded?.stop()
    throw err
  }
}

function hubContext (env: Env, log: Logger, pool: Pool, boss: PgBoss, systems: SystemRegistry, databaseUrl: string, migrations: Migration[], embedded?: EmbeddedPostgres): Hub {
  let closed = false
  return {
    env,
    log,
    pool,
    boss,
    systems,
    databaseUrl,
    async ready () {
      if (closed) return false
      try {
        return await migrationsApplied(pool, migrations) && await boss.isInstalled()
      } catch {
        return false
      }
    },
    // Workers first (they finish in-flight jobs), then connections, then the database itself.
    async close () {
      if (closed) return
      closed = true
      await boss.stop({ graceful: true, timeout: env.HUB_SHUTDOWN_GRACE_MS, close: true })
      await systems.close()
      await pool.end()
      await embedded?.stop()
    }
  }
}

/**
 * HUB_ADMIN_KEY, when set, is the 'bootstrap' key with every scope. On the embedded default with
 * no key at all, generate one, keep it in the data directory and show it once.
 */
async function bootstrapAdminKey (env: Env, pool: Pool, log: Logger, announce?: (line: string) => void): Promise<void> {
  const file = join(resolve(env.HUB_DATA_DIR), 'admin-key')
  if (env.HUB_ADMIN_KEY) {
    // Said, since the key used until now (a generated one saved in the data directory, say)
    // stops working without a word otherwise; a saved key that no longer works is removed, so
    // the file never offers a key the hub refuses.
    if (await putAdminKey(pool, 'bootstrap', env.HUB_ADMIN_KEY)) {
      const saved = (await readFile(file, 'utf8').catch(() => '')).trim()
      const stale = saved !== '' && saved !== env.HUB_ADMIN_KEY
      if (stale) await rm(file, { force: true })
      log.warn({ removed: stale ? file : undefined }, "HUB_ADMIN_KEY replaces the 'bootstrap' admin key: the one used until now (the generated key in the data directory's admin-key, if any) is no longer accepted")
    }
    return
  }
  if (await countAdminKeys(pool) > 0) return
  if (!announce) {
    log.warn('no admin key exists: set HUB_ADMIN_KEY to use the admin API')
    return
  }
  const key = generateKey()
  await mkdir(env.HUB_DATA_DIR, { recursive: true })
  await writeFile(file, key + '\n', { mode: 0o600 })
  await putAdminKey(pool, 'bootstrap', key)
  announce(`Generated an admin API key (shown once, saved in ${file}):\n  ${key}\n`)
}
