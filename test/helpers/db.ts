import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'

/** The same server URL pointed at another database. */
export function databaseUrl (serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = '/' + database
  return url.toString()
}

// One template per run, so runs against a shared DATABASE_URL server do not collide.
export const templateName = () => `hub_template_${process.pid}`

/**
 * A fresh database for one test file, cloned from the run's migrated template (schema and
 * pg-boss queues already in place), dropped when the test ends.
 */
export async function testDatabase (t: Test): Promise<string> {
  const serverUrl = process.env.HUB_TEST_SERVER_URL
  const template = process.env.HUB_TEST_TEMPLATE
  if (!serverUrl || !template) {
    // Run by `npx tap` alone there is no server: end the file now, where a thrown error left its
    // other subtests and open servers waiting for tap's 600 s timeout.
    process.stderr.write('run tests with `npm test`, or one file with `node test/run.ts FILE` (it provides the database)\n')
    process.exit(1)
  }
  const name = `hub_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client(serverUrl)
  await admin.connect()
  // CREATE DATABASE ... TEMPLATE needs the template to have no other sessions: retry briefly
  // when another test file is cloning it at the same moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`)
      break
    } catch (err) {
      if (attempt > 50 || !/is being accessed by other users/.test((err as Error).message)) throw err
      await new Promise(resolve => setTimeout(resolve, 100 + Math.random() * 200))
    }
  }
  t.teardown(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await admin.end()
  })
  return databaseUrl(serverUrl, name)
}
