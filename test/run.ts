// `npm test` runs tap through this script: it provides one PostgreSQL server for the whole run
// (DATABASE_URL's when set, else an embedded one in a temporary directory) and a migrated
// template database that each test file clones into a database of its own.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { PgBoss } from 'pg-boss'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { migrate } from '../src/db/migrate.ts'
import { createPool } from '../src/db/pool.ts'
import { queueDefinitions } from '../src/queue/queues.ts'
import { ensureQueues } from '../src/queue/boss.ts'
import { databaseUrl, templateName } from './helpers/db.ts'

const dataDir = process.env.DATABASE_URL ? undefined : await mkdtemp(join(tmpdir(), 'hub-test-'))
const embedded = dataDir ? await startEmbeddedPostgres(dataDir) : undefined
const serverUrl = process.env.DATABASE_URL ?? embedded!.url
const template = templateName()

const admin = new pg.Client(serverUrl)
await admin.connect()
await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)
await admin.query(`CREATE DATABASE ${template}`)
const templateUrl = databaseUrl(serverUrl, template)
const pool = createPool(templateUrl, 2)
await migrate(pool)
await pool.end()
const boss = new PgBoss({ connectionString: templateUrl, supervise: false, schedule: false })
await boss.start()
await ensureQueues(boss, queueDefinitions)
await boss.stop({ graceful: false, close: true })

const npx = (args: string[]) => new Promise<number>(resolve => {
  const child = spawn('npx', args, {
    stdio: 'inherit',
    env: { ...process.env, HUB_TEST_SERVER_URL: serverUrl, HUB_TEST_TEMPLATE: template }
  })
  child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)))
})
// A fresh install of tap is built with its TypeScript plugin, which we disable (Node strips
// types itself); tap rebuilds on its own only after computing the first run's loaders.
const built = await readFile('node_modules/@tapjs/test/test-built/src/index.ts', 'utf8').catch(() => '')
if (built.includes('@tapjs/typescript')) await npx(['tap', 'build'])
const code = await npx(['tap', ...process.argv.slice(2)])

await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)
await admin.end()
await embedded?.stop()
if (dataDir) await rm(dataDir, { recursive: true, force: true })
process.exit(code)
