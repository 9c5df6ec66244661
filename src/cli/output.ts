// What the CLI shows: progress while it works (on stderr) and the batch summary (on stdout).
import cliProgress from 'cli-progress'
import type { BatchStatus, Counts, Receipt } from './client.ts'

export interface Progress {
  update (value: number, total: number, payload?: Record<string, string>): void
  stop (): void
}

export interface ProgressOptions {
  label: string
  /** Extra text after the counts: `{name}` is filled from the update's payload. */
  extra?: string
  bytes?: boolean
  /** Said on Ctrl-C, which ends the process (exit 130) after restoring the terminal. */
  interrupted?: string
  stream?: NodeJS.WriteStream
}

/**
 * A progress bar on a terminal. Elsewhere (a log, a pipe, a test) no bar is drawn: a plain
 * line says when the step starts and, on long runs, how far it got, at most every 10 s.
 */
export function progress ({ label, extra = '', bytes = false, interrupted = 'interrupted', stream = process.stderr }: ProgressOptions): Progress {
  const show = (v: number) => bytes ? formatBytes(v) : String(v)
  const draw = stream.isTTY ? bar(stream, label, extra, show) : plain(stream, label, extra, show)
  let started = false
  const onSigint = () => {
    draw.stop()
    stream.write(`\n${interrupted}\n`)
    process.exit(130)
  }
  return {
    update (value, total, payload = {}) {
      if (!started) process.once('SIGINT', onSigint)
      started = true
      draw.update(value, total, payload)
    },
    stop () {
      process.removeListener('SIGINT', onSigint)
      if (started) draw.stop()
    }
  }
}

function bar (stream: NodeJS.WriteStream, label: string, extra: string, show: (v: number) => string): Progress {
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${label.padEnd(10)} {bar} {percentage}% | {value}/{total}${extra}`,
    formatValue: (v, _options, type) => type === 'value' || type === 'total' ? show(Number(v)) : String(v),
    hideCursor: true,
    barsize: 30
  }, cliProgress.Presets.shades_classic)
  let started = false
  return {
    update (value, total, payload = {}) {
      if (!started) { bar.start(total, value, payload); started = true; return }
      bar.setTotal(total)
      bar.update(value, payload)
    },
    stop: () => bar.stop()
  }
}

function plain (stream: NodeJS.WriteStream, label: string, extra: string, show: (v: number) => string): Progress {
  let last = 0
  let lastLine = ''
  let lastValue = -1
  return {
    update (value, total, payload = {}) {
      const now = Date.now()
      const reachedEnd = value >= total && lastValue < total
      lastValue = value
      if (last && now - last < 10_000 && !reachedEnd) return
      const line = `${label} ${show(value)}/${show(total)}${fill(extra, payload)}`
      if (line !== lastLine) stream.write(`${line}\n`)
      last = now
      lastLine = line
    },
    stop () {}
  }
}

const fill = (text: string, payload: Record<string, string>) => text.replace(/\{(\w+)\}/g, (m, k: string) => payload[k] ?? m)

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

export const done = (c: Counts) => c.completed + c.skipped + c.failed
const pending = (c: Counts) => c.queued + c.active
export const total = (c: Counts) => done(c) + pending(c)

/** Payload for the processing bar: failures so far and the deliveries fanned out. */
export function processingPayload (s: BatchStatus): Record<string, string> {
  const failed = s.counts.failed + (s.deliveries?.failed ?? 0)
  return {
    failed: String(failed),
    deliveries: s.deliveries ? ` | deliveries ${done(s.deliveries)}/${total(s.deliveries)}` : ''
  }
}

/** The ids that went wrong: rejected at upload, or failed in the pipeline (own jobs or deliveries). */
export const problems = (s: BatchStatus) => s.received.rejected + s.counts.failed + (s.deliveries?.failed ?? 0)

function describe (s: BatchStatus): string {
  if (s.direction === 'outbound') return `${s.scope} to ${s.target} (outbound${s.system ? `, ids of ${s.system}` : ', hub ids'})`
  return `${s.scope} from ${s.system} (inbound)`
}

function state (s: BatchStatus): string {
  if (s.finished) return s.state === 'aborted' ? 'finished, but the upload broke off: only the ids received before were queued' : 'finished'
  if (s.state === 'enqueuing') return 'receiving ids'
  const own = `${pending(s.counts)} of ${s.received.queued} to go`
  return `running, ${own}${s.deliveries && pending(s.deliveries) ? `, ${pending(s.deliveries)} deliveries to go` : ''}`
}

const countsLine = (c: Counts) => `${c.completed} completed, ${c.skipped} skipped, ${c.failed} failed${pending(c) ? `, ${pending(c)} pending` : ''}`

/**
 * The batch summary, one `name value` pair a line, then the rejected lines (when the upload's
 * receipt is at hand: GET /v1/sync/:id only counts them) and the failures with their messages.
 */
export function summary (s: BatchStatus, receipt?: Receipt): string {
  const rows: Array<[string, string | number]> = [
    ['batch', s.batchId],
    ['sync', describe(s)],
    ['state', state(s)],
    ['queued', s.received.queued],
    ['coalesced', s.received.coalesced],
    ['rejected', s.received.rejected],
    ['completed', s.counts.completed],
    ['skipped', s.counts.skipped],
    ['failed', s.counts.failed]
  ]
  if (s.deliveries) rows.push(['deliveries', countsLine(s.deliveries)])
  const out = rows.map(([k, v]) => `${k.padEnd(11)}${v}`)
  if (receipt) out.push(...rejectedLines(receipt))
  else if (s.received.rejected) out.push('(the rejected lines are listed only in the answer to the upload, by hub sync)')
  if (s.failures.length) {
    const total = s.counts.failed + (s.deliveries?.failed ?? 0)
    out.push(`failures${total > s.failures.length ? ` (the first ${s.failures.length} of ${total})` : ''}:`)
    for (const f of s.failures) {
      const id = f.externalId ? `${f.system} ${f.externalId}` : `${f.system} record ${f.recordId}`
      out.push(`  ${id}: ${f.message}${f.httpStatus ? ` [HTTP ${f.httpStatus}]` : ''} (job ${f.jobId})`)
    }
  }
  if (s.debugJobs?.length) {
    out.push('debug traces (GET /v1/jobs/<id>):')
    for (const id of s.debugJobs) out.push(`  ${id}`)
  }
  return out.join('\n') + '\n'
}

/** The receipt of an upload, for `--no-wait`. */
export function receiptSummary (r: Receipt): string {
  const out = [
    `${'batch'.padEnd(11)}${r.batchId}`,
    `${'queued'.padEnd(11)}${r.queued}`,
    `${'coalesced'.padEnd(11)}${r.coalesced}`,
    `${'rejected'.padEnd(11)}${r.rejectedCount}`,
    ...rejectedLines(r),
    `follow it with: hub status ${r.batchId} --watch`
  ]
  return out.join('\n') + '\n'
}

function rejectedLines (r: Receipt): string[] {
  if (!r.rejected.length) return []
  const more = r.rejectedCount > r.rejected.length ? ` (the first ${r.rejected.length} of ${r.rejectedCount})` : ''
  return [`rejected lines${more}:`, ...r.rejected.map(x => `  line ${x.line}: ${x.id ? `${JSON.stringify(x.id)}: ` : ''}${x.reason}`)]
}
