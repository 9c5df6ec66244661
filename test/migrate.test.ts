import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { migrate, migrationsApplied, readMigrations } from '../src/db/migrate.ts'
import { createPool } from '../src/db/pool.ts'
import { lineOf, nextChunk } from '../src/imports/store.ts'
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

t.test('an import uploaded before the upgrades resumes from its next row: the rows before it are not written again', async t => {
  const url = await testDatabase(t)
  const pool = createPool(url, 2)
  t.teardown(() => pool.end())
  const all = await readMigrations()
  await pool.query('DROP SCHEMA hub CASCADE')
  await migrate(pool, all.filter(m => m.id < 10))
  // Stored a row a row (before 010), two written of three.
  const { rows: [{ id: rowByRow }] } = await pool.query<{ id: string }>(
    `INSERT INTO hub.imports (type, status, options, headers, total, next_row) VALUES ('customer', 'processing', '{}', '{email_address,first_name}', 3, 2) RETURNING id`)
  await pool.query(`INSERT INTO hub.import_rows (import_id, n, fields) VALUES ($1, 1, '{a@example.com,Ann}'), ($1, 2, '{b@example.com,"Bo, Jr."}'), ($1, 3, '{c@example.com,""}')`, [rowByRow])
  t.same(await migrate(pool, all.filter(m => m.id < 11)), ['010_import_chunks.sql'])
  // Stored as chunks, resumed by next_row (before 011): its first chunk written.
  const { rows: [{ id: chunked }] } = await pool.query<{ id: string }>(
    `INSERT INTO hub.imports (type, status, options, headers, total, next_row) VALUES ('customer', 'processing', '{}', '{email_address,first_name}', 4, 3) RETURNING id`)
  // As the version before 013 stored them: without their lines.
  for (const [n, rows] of [[1, [['a@example.com', 'Ann'], ['b@example.com', 'Bo']]], [3, [['c@example.com', 'Cy'], ['d@example.com', 'Di']]]] as const) {
    await pool.query('INSERT INTO hub.import_chunks (import_id, n, rows) VALUES ($1, $2, $3::json)', [chunked, n, JSON.stringify(rows)])
  }
  t.same(await migrate(pool, all.filter(m => m.id < 12)), ['011_import_chunks_done.sql'])
  await migrate(pool, all)

  t.same(await nextChunk(pool, rowByRow, 0), { n: 2, rows: [['b@example.com', 'Bo, Jr.']], lines: null }, 'its next row, a chunk of its own')
  t.same(await nextChunk(pool, rowByRow, 2), { n: 3, rows: [['c@example.com', '']], lines: null })
  t.equal(await nextChunk(pool, rowByRow, 3), undefined, 'past the last row: none')
  const left = await nextChunk(pool, chunked, 0)
  t.same(left, { n: 3, rows: [['c@example.com', 'Cy'], ['d@example.com', 'Di']], lines: null }, 'the chunk it had not written')
  t.same([lineOf(left!, 0), lineOf(left!, 1)], [4, 5], 'its rows are named by line as before: the header is line 1')
  t.equal(await nextChunk(pool, chunked, 3), undefined)
})
