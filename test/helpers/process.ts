import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const root = fileURLToPath(new URL('../../', import.meta.url))

export interface HubProcess {
  child: ChildProcess
  url: string
  stdout: () => string
  stderr: () => string
  /** SIGTERM, resolving with the exit code. */
  stop (): Promise<number | null>
}

/**
 * Run `node src/server.ts` (or `command`, such as an installed package's `hub start`) as its own
 * process, as a user would, and wait until it listens.
 */
export async function startHubProcess (t: Test, env: Record<string, string>, command = { args: ['src/server.ts'], cwd: root }): Promise<HubProcess> {
  const child = spawn(process.execPath, command.args, {
    cwd: command.cwd,
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { err += d })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start:\n${out}\n${err}`)), 60_000)
    child.stdout.on('data', () => {
      const m = /"address":"(http:[^"]+)"/.exec(out)
      if (m) { clearTimeout(timer); resolve(m[1]) }
    })
    exited.then(code => { clearTimeout(timer); reject(new Error(`hub exited with ${code}:\n${out}\n${err}`)) })
  })
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    return await exited
  }
  t.teardown(stop)
  return { child, url, stdout: () => out, stderr: () => err, stop }
}

/** Run the server with an environment expected to be rejected; resolves with exit code and stderr. */
export async function runHubExpectingExit (env: Record<string, string>): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(process.execPath, ['src/server.ts'], { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', d => { stderr += d })
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  return { code, stderr }
}

/** Alive to kill(0) and, where /proc tells, not a zombie (exited, not yet reaped by its parent). */
export async function running (pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return !/^\d+ \(.*\) [ZX] /.test(stat)
}

/** The pids of the running processes whose parent is `pid`, from /proc. */
export async function childrenOf (pid: number): Promise<number[]> {
  const found: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(ppid) === pid && state !== 'Z' && state !== 'X') found.push(Number(entry))
  }
  return found
}
