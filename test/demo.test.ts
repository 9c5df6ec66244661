// `npm run demo` as a user runs it: twice on the same data directory, the second time staying
// up, and the commands it prints work when pasted into a shell.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { waitFor } from './helpers/pipeline.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const sh = (command: string) => promisify(execFile)('sh', ['-c', command]).then(r => r.stdout)

function runDemo (dataDir: string, ...args: string[]) {
  const child = spawn(process.execPath, ['sandbox/demo.ts', '--data-dir', dataDir, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { out += d })
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  return { child, exited, output: () => out }
}

t.test('the demo runs twice in a row, then stays up with commands that work', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'hub-demo-test-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))

  const first = runDemo(dataDir, '--exit')
  t.equal(await first.exited, 0, 'the first run exits 0', { output: first.output() })
  t.match(first.output(), /'Augusta Ada Lovelace'/, 'the ERP got the renamed customer')

  const second = runDemo(dataDir)
  t.teardown(() => { if (second.child.exitCode === null) second.child.kill('SIGINT') })
  await waitFor(() => second.output().includes('until Ctrl-C') || second.child.exitCode !== null, 60_000, 'the second run to stay up')
  const out = second.output()
  t.equal(second.child.exitCode, null, 'the second run stays up', { output: out })
  t.match(out, /resetting the demo database/, 'the reset is announced')
  t.match(out, /'Augusta Ada Lovelace'/, 'the second run delivers too')
  t.match(out, /API docs +http:\/\/127\.0\.0\.1:\d+\/docs/)

  const commands = out.split('\n').filter(l => l.startsWith('  curl ')).map(l => l.trim())
  t.equal(commands.length, 4, 'four commands to paste')
  const [change, record, erp, crm] = commands
  t.match(change, /-X PUT .*\/customers\//)
  await sh(change)
  const hubRecord = await waitFor(async () => {
    const { data } = JSON.parse(await sh(record))
    return data?.first_name === 'Amazing Grace' && data
  }, 20_000, 'the change to reach the hub')
  t.equal(hubRecord.email_address, 'grace@example.com')
  await waitFor(async () => (await sh(erp)).includes('Amazing Grace Hopper'), 20_000, 'the change to reach the ERP')
  await waitFor(async () => (await sh(crm)).includes('Amazing Grace'), 20_000, 'the change to reach the CRM')

  second.child.kill('SIGINT')
  t.equal(await second.exited, 0, 'Ctrl-C stops it cleanly')
})

t.test('--help prints the usage and exits 0; an unknown option is one line and exits 2; neither starts anything', async (t) => {
  const dataDir = join(tmpdir(), `hub-demo-usage-${process.pid}`)
  const help = runDemo(dataDir, '--help')
  t.equal(await help.exited, 0, { output: help.output() })
  t.match(help.output(), /^Usage: npm run demo -- \[options\]\n[^]*--exit[^]*--data-dir <dir>/)

  const unknown = runDemo(dataDir, '--bogus')
  t.equal(await unknown.exited, 2)
  t.equal(unknown.output(), "error: unknown option '--bogus'\n")
  t.notOk(existsSync(dataDir), 'no database was started')
})
