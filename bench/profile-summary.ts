// Where a process spent its time: reads a V8 .cpuprofile (`node --cpu-prof`, or a bench run with
// BENCH_CPU_PROF=<dir>) and prints the functions and the files with the most self time.
// `node bench/profile-summary.ts <file.cpuprofile | dir (its newest profile)> [top, default 25]`
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

const root = fileURLToPath(new URL('../', import.meta.url))

/** A file named as a reader looks for it: a package by its name, ours relative to the checkout. */
function fileOf ({ url, functionName }: CallFrame): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)'
  const path = url.replace(/^file:\/\//, '')
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)
  if (pkg) return `[${pkg[1]}]`
  return path.startsWith(root) ? path.slice(root.length) : path
}

async function profilePath (arg: string): Promise<string> {
  if (!(await stat(arg)).isDirectory()) return arg
  const files = (await readdir(arg)).filter(f => f.endsWith('.cpuprofile'))
  const dated = await Promise.all(files.map(async f => ({ f, at: (await stat(join(arg, f))).mtimeMs })))
  const newest = dated.sort((a, b) => b.at - a.at)[0]
  if (!newest) throw new Error(`no .cpuprofile in ${arg}`)
  return join(arg, newest.f)
}

export function summarise (profile: Profile) {
  const byId = new Map(profile.nodes.map(n => [n.id, n.callFrame]))
  const fns = new Map<string, number>()
  const files = new Map<string, number>()
  let total = 0
  // A sample lasts until the next one is taken.
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0
    const frame = byId.get(profile.samples[i])!
    const file = fileOf(frame)
    const fn = `${frame.functionName || '(anonymous)'}  ${file}${frame.url ? ':' + (frame.lineNumber + 1) : ''}`
    fns.set(fn, (fns.get(fn) ?? 0) + us)
    files.set(file, (files.get(file) ?? 0) + us)
    total += us
  }
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
  return { totalMs: total / 1000, functions: (n: number) => top(fns, n), files: (n: number) => top(files, n) }
}

if (import.meta.main) {
  const [arg, n = '25'] = process.argv.slice(2)
  if (!arg) {
    process.stderr.write('usage: node bench/profile-summary.ts <file.cpuprofile | dir> [top]\n')
    process.exit(2)
  }
  const file = await profilePath(arg)
  const s = summarise(JSON.parse(await readFile(file, 'utf8')))
  const row = ([name, us]: [string, number]) =>
    `${(us / 1000).toFixed(0).padStart(8)} ms ${(us / 10 / s.totalMs).toFixed(1).padStart(5)} %  ${name}`
  console.log(`${file}: ${(s.totalMs / 1000).toFixed(1)} s sampled\n\nself time by function:`)
  for (const r of s.functions(Number(n))) console.log(row(r))
  console.log('\nself time by file:')
  for (const r of s.files(Number(n))) console.log(row(r))
}
