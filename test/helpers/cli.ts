// The `hub` command line, run as its own process (as a user would), and reading what it printed.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const root = fileURLToPath(new URL('../../', import.meta.url))

export interface Run { code: number | null, stdout: string, stderr: string }

/** `hub <args>` with only PATH and `env` in its environment. */
export function hub (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, ['bin/hub.ts', ...args], { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += d })
  child.stderr.on('data', d => { stderr += d })
  return new Promise(resolve => child.on('close', code => resolve({ code, stdout, stderr })))
}

/** The value of one `name value` line of a summary. */
export const field = (out: string, name: string) => new RegExp(`^${name} +(.*)$`, 'm').exec(out)?.[1]

export function exits (t: Test, run: Run, code: number) {
  t.equal(run.code, code, `exit code ${code}`, { stdout: run.stdout, stderr: run.stderr })
}
