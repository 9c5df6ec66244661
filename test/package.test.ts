// The package as users get it: the launcher's Node check, and a packed tarball installed
// elsewhere that starts the hub on its embedded database.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { testDatabase } from './helpers/db.ts'
import { waitFor } from './helpers/pipeline.ts'
import { running, startHubProcess } from './helpers/process.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
// Commands run as in a user's shell: tap adds its loader to every child's NODE_OPTIONS, and the
// TypeScript compiler that npm pack runs cannot load under it.
// Their stdin is closed, as a user's terminal would answer one waiting on it: an npm install
// with a pipe open for stdin once sat for ten minutes after its work was done.
// A user's shell also has how it reaches the registry: a proxy, and the CA that proxy signs
// with (without it npm's install of the package fails on every fetch, SELF_SIGNED_CERT_IN_CHAIN).
const NETWORK = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy']
const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...Object.fromEntries(NETWORK.filter(k => process.env[k]).map(k => [k, process.env[k]])) }
function run (file: string, args: string[], cwd: string): Promise<{ stdout: string, stderr: string }> {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', file, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += d })
  child.stderr.on('data', d => { stderr += d })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', code => code === 0 ? resolve({ stdout, stderr }) : reject(Object.assign(new Error(`${file} exited with ${code}: ${stderr}`), { code, stdout, stderr })))
  })
}
const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }

/** Run a command to its end; resolves with its exit code and output, whatever the code. */
async function exec (file: string, args: string[], cwd: string) {
  try {
    const { stdout, stderr } = await run(file, args, cwd)
    return { code: 0, stdout, stderr }
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number, stdout: string, stderr: string }
    return { code, stdout, stderr }
  }
}

const oldNode = '/usr/bin/node'
const oldVersion = existsSync(oldNode) ? (await exec(oldNode, ['-p', 'process.versions.node'], root)).stdout.trim() : ''
const [major, minor] = oldVersion.split('.').map(Number)
const tooOld = major < 22 || (major === 22 && minor < 19)

t.test('on a Node older than 22.19 the launcher says so in one line and exits 2', {
  skip: !oldVersion ? `no ${oldNode}` : !tooOld ? `${oldNode} is ${oldVersion}, not older than 22.19` : false
}, async t => {
  const { code, stdout, stderr } = await exec(oldNode, ['bin/hub.js', 'start'], root)
  t.equal(code, 2)
  t.equal(stdout, '')
  t.equal(stderr.split('\n').length, 2, 'one line')
  t.match(stderr, `hub: the hub needs Node >= 22.19 (24 recommended); this is Node ${oldVersion}: install Node 24 with "nvm install 24"`)
})

t.test('in the repository the launcher runs the CLI: hub --version', async t => {
  const { code, stdout } = await exec(process.execPath, ['bin/hub.js', '--version'], root)
  t.equal(code, 0)
  t.equal(stdout.trim(), version)
})

t.test('the packed package installs elsewhere and starts the hub on its embedded database', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-package-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // Run as root, the hub runs PostgreSQL as the postgres user, who must reach the binaries.
  await chmod(dir, 0o755)
  // prepack compiles the TypeScript into dist/: Node does not strip types under node_modules.
  const [packed] = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', dir], root)).stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed.files.map(f => f.path)
  t.ok(files.includes('bin/hub.js') && files.includes('dist/src/server.js') && files.includes('dist/sql/001_admin_keys.sql'), 'launcher, compiled code and migrations')
  t.same(files.filter(f => f.endsWith('.ts') || f.startsWith('test/') || f.startsWith('bench/')), [], 'no TypeScript, tests or benchmarks')

  const app = join(dir, 'app')
  await mkdir(app)
  await writeFile(join(app, 'package.json'), '{ "private": true }\n')
  await run('npm', ['install', '--no-audit', '--no-fund', '--no-update-notifier', '--prefer-offline', join(dir, packed.filename)], app)
  const hub = join(app, 'node_modules/.bin/hub')

  const shown = await exec(process.execPath, [hub, '--version'], app)
  t.equal(shown.stdout.trim(), version, 'hub --version')

  const dataDir = join(dir, 'data')
  const started = await startHubProcess(t, { HUB_DATA_DIR: dataDir }, { args: [hub, 'start'], cwd: app })
  t.equal((await fetch(started.url + '/ready')).status, 200, 'ready on the embedded PostgreSQL')
  const pidFile = join(dataDir, 'pg/postmaster.pid')
  const postgres = Number((await readFile(pidFile, 'utf8')).split('\n')[0])
  t.equal(await started.stop(), 0, 'SIGTERM stops it cleanly')
  t.notOk(existsSync(pidFile), 'the embedded PostgreSQL shut down')
  await t.resolves(waitFor(async () => !await running(postgres), 10_000, 'PostgreSQL to exit'), 'and its process is gone')
})

t.test("the Docker image's files, run as its CMD runs them, start the hub and serve the API and the dashboard", async t => {
  // No Docker engine here: the files the Dockerfile copies are copied the same way, beside the
  // repository's dependencies (its npm ci --omit=dev installs the same packages, less the dev ones).
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8')
  const copies = [...dockerfile.matchAll(/^COPY (\S+(?: \S+)*) (\S+)$/gm)].flatMap(m => m[1].split(' '))
  const dir = await mkdtemp(join(tmpdir(), 'hub-image-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const path of copies) await cp(join(root, path), join(dir, path), { recursive: true })
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]) as string[]
  t.equal(cmd[0], 'node')
  const started = await startHubProcess(t, { DATABASE_URL: await testDatabase(t), NODE_ENV: 'production' }, { args: cmd.slice(1), cwd: dir })
  t.equal((await fetch(started.url + '/ready')).status, 200, 'ready')
  const page = await fetch(started.url + '/')
  t.equal(page.status, 200, 'the dashboard is served')
  t.match(await page.text(), /<title>[^<]*Hub/)
  t.equal((await fetch(started.url + '/app.js')).status, 200, 'with its script')
  t.equal(await started.stop(), 0, 'SIGTERM stops it cleanly')
})

