import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { migrate, migrationsApplied, readMigrations } from '../src/db/migrate.ts'
import { createPool } from '../src/db/pool.ts'
import { testDatabase } from './helpers/db.ts'

t.test('migrations started twice at once apply each file exactly once', async t => {
  const url = await testDatabase(t)
  const pool = createPool(url, 4)
  t.teardown(() => pool.end())
  const dir = await mkdtemp(join(tmpdir(), 'hub-mig-'))
  // A slow migration that would fail if run twice (CREATE TABLE without IF NOT EXISTS).
  await writeFile(join(dir, '901_a.sql'), 'CREATE TABLE hub.concurrency_probe (id int); SELECT pg_sleep(0.3);')
  await writeFile(join(dir, '902_b.sql'), 'INSERT INTO hub.concurrency_probe VALUES (1);')
  const migrations = await readMigrations(dir + '/')
  const [first, second] = await Promise.all([migrate(pool, migrations), migrate(pool, migrations)])
  t.same([...first, ...second].sort(), ['901_a.sql', '902_b.sql'], 'each applied by one of the two')
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM hub.concurrency_probe')
  t.equal(rows[0].n, 1, 'the data migration ran once')
  t.equal(await migrationsApplied(pool, migrations), true)
  t.same(await migrate(pool, migrations), [], 'a third run has nothing to do')
})

t.test('a failing migration names its file and leaves nothing half-applied', async t => {
  const url = await testDatabase(t)
  const pool = createPool(url, 2)
  t.teardown(() => pool.end())
  const dir = await mkdtemp(join(tmpdir(), 'hub-mig-'))
  await writeFile(join(dir, '901_ok.sql'), 'CREATE TABLE hub.ok_probe (id int);')
  await writeFile(join(dir, '902_bad.sql'), 'CREATE TABLE hub.bad_probe (id int); SELECT no_such_function();')
  const migrations = await readMigrations(dir + '/')
  await t.rejects(migrate(pool, migrations), /migration 902_bad.sql failed/)
  const { rows } = await pool.query("SELECT to_regclass('hub.bad_probe') IS NOT NULL AS bad, to_regclass('hub.ok_probe') IS NOT NULL AS ok")
  t.equal(rows[0].bad, false, 'the failed migration rolled back')
  t.equal(rows[0].ok, true, 'earlier migrations stay')
  t.equal(await migrationsApplied(pool, migrations), false)
})

t.test('the shipped migrations are all recorded in a fresh database', async t => {
  const url = await testDatabase(t)
  const pool = createPool(url, 2)
  t.teardown(() => pool.end())
  t.equal(await migrationsApplied(pool, await readMigrations()), true)
})
