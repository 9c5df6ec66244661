// What the CLI shows: progress while it works (on stderr) and the batch summary (on stdout).
import cliProgress from 'cli-progress'
import type { BatchStatus, Counts, ImportView, Receipt } from './client.ts'
import { KEPT_ERRORS } from '../imports/store.ts'

export interface Bar {
  /** `etaTotal`: what the ETA counts down to, when more than `total` is coming (null: not known yet). */
  update (value: number, total: number, payload?: Record<string, string>, etaTotal?: number | null): void
}

export interface Note { set (text: string): void }

export interface BarSpec {
  label: string
  /** Text after the counts: `{name}` from the update's payload, `{rate}` (with its unit) and `{left}` (the time to go). */
  extra?: string
  /** What it counts, for the rate: `bytes` are shown as KiB, MiB... */
  unit: string
  /** When the work began, if before the first update (performance.now()): the first rate counts from there. */
  since?: number
}

export interface Board {
  bar (spec: BarSpec): Bar
  /** A line of text under the bars, shown while it is not empty (off a terminal: when it changes). */
  note (): Note
  stop (): void
}

export interface BoardOptions {
  /** Said on Ctrl-C, which ends the process (exit 130) after restoring the terminal. */
  interrupted?: string
  stream?: NodeJS.WriteStream
}

/**
 * Progress bars, one a line, each drawn from its first update. On a terminal they redraw in
 * place; elsewhere (a log, a pipe, a test) a bar is a plain line when it starts, at most every
 * 10 s while it moves, and once more with where it ended; a note is a line when it changes.
 */
export function board ({ interrupted = 'interrupted', stream = process.stderr }: BoardOptions = {}): Board {
  const draw = stream.isTTY ? terminal(stream) : plain(stream)
  let started = false
  const onSigint = () => {
    draw.stop()
    stream.write(`\n${interrupted}\n`)
    process.exit(130)
  }
  const start = () => {
    if (!started) process.once('SIGINT', onSigint)
    started = true
  }
  return {
    bar (spec) {
      const bytes = spec.unit === 'bytes'
      const show = (v: number) => bytes ? formatBytes(v) : String(v)
      const row = draw.row(spec.label, spec.extra ?? '', show)
      const measure = meter(spec.since)
      return {
        update (value, total, payload = {}, etaTotal = total) {
          start()
          const { rate, eta } = measure(value, etaTotal === null ? null : etaTotal - value)
          const speed = rate === undefined ? `? ${bytes ? 'B' : spec.unit}` : bytes ? formatBytes(rate) : `${rate < 10 ? rate.toFixed(1) : Math.round(rate)} ${spec.unit}`
          row.update(value, total, { rate: `${speed}/s`, left: eta === undefined ? '?' : duration(eta), ...payload })
        }
      }
    },
    note () {
      const row = draw.note()
      return { set (text) { start(); row.set(text) } }
    },
    stop () {
      process.removeListener('SIGINT', onSigint)
      if (started) draw.stop()
    }
  }
}

interface Draw {
  row (label: string, extra: string, show: (v: number) => string): { update (value: number, total: number, payload: Record<string, string>): void }
  note (): Note
  stop (): void
}

function terminal (stream: NodeJS.WriteStream): Draw {
  const bars = new cliProgress.MultiBar({
    stream,
    hideCursor: true,
    // Narrow enough that a bar and its figures fit 80 columns.
    barsize: 20,
    emptyOnZero: true
  }, cliProgress.Presets.shades_classic)
  return {
    row (label, extra, show) {
      let bar: cliProgress.SingleBar | undefined
      return {
        update (value, total, payload) {
          if (!bar) {
            bar = bars.create(total, value, payload, {
              format: `${label.padEnd(10)} {bar} {value}/{total}${extra}`,
              formatValue: (v, _options, type) => type === 'value' || type === 'total' ? show(Number(v)) : String(v)
            })
            return
          }
          bar.setTotal(total)
          bar.update(value, payload)
        }
      }
    },
    note () {
      let bar: cliProgress.SingleBar | undefined
      return {
        set (text) {
          if (text && bar) bar.update({ text })
          else if (text) bar = bars.create(1, 0, { text }, { format: '{text}' })
          else if (bar) {
            bars.remove(bar)
            bar = undefined
          }
        }
      }
    },
    stop: () => bars.stop()
  }
}

const PLAIN_EVERY_MS = 10_000

function plain (stream: NodeJS.WriteStream): Draw {
  const rows: Array<{ flush (): void }> = []
  return {
    row (label, extra, show) {
      let line = ''
      let printed = ''
      let at = 0
      const flush = () => {
        if (line !== printed) stream.write(`${line}\n`)
        printed = line
        at = Date.now()
      }
      rows.push({ flush })
      return {
        update (value, total, payload) {
          line = `${label} ${show(value)}/${show(total)}${fill(extra, payload)}`
          if (!at || Date.now() - at >= PLAIN_EVERY_MS) flush()
        }
      }
    },
    note () {
      let printed = ''
      return {
        set (text) {
          if (text && text !== printed) stream.write(`${text}\n`)
          if (text) printed = text
        }
      }
    },
    stop () { for (const row of rows) row.flush() }
  }
}

const fill = (text: string, payload: Record<string, string>) => text.replace(/\{(\w+)\}/g, (m, k: string) => payload[k] ?? m)

// The rate is measured over the last 10 s or so: recent enough to follow a throttle change,
// long enough to smooth out the 500 ms polls.
const RATE_WINDOW_MS = 10_000

/** Per second rate of `value`, and the seconds until `remaining` is done at that rate (undefined: not known yet). */
function meter (since?: number) {
  const samples: Array<[at: number, value: number]> = since === undefined ? [] : [[since, 0]]
  // A bar that reached its end keeps the rate it ended at, rather than decay to 0 while the
  // other bars go on.
  let ended: number | undefined
  return (value: number, remaining: number | null): { rate?: number, eta?: number } => {
    const finished = remaining !== null && remaining <= 0
    if (finished && ended !== undefined) return { rate: ended, eta: 0 }
    const now = performance.now()
    samples.push([now, value])
    while (samples.length > 2 && samples[1][0] <= now - RATE_WINDOW_MS) samples.shift()
    const [at, from] = samples[0]
    const rate = now > at ? (value - from) / ((now - at) / 1000) : undefined
    ended = finished ? rate : undefined
    if (finished) return { rate, eta: 0 }
    return { rate, eta: rate && remaining !== null ? remaining / rate : undefined }
  }
}

/** 42s, 1m40s, 2h05m. */
function duration (seconds: number): string {
  const s = Math.ceil(seconds)
  const pad = (n: number) => String(n).padStart(2, '0')
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`
  return `${Math.floor(s / 3600)}h${pad(Math.floor(s % 3600 / 60))}m`
}

function formatBytes (n: number): string {
  if (n < 1024) return `${Math.round(n)} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

const done = (c: Counts) => c.completed + c.skipped + c.failed
const pending = (c: Counts) => c.queued + c.active
const total = (c: Counts) => done(c) + pending(c)

/**
 * The bars of a running batch: its own jobs, and for inbound batches the deliveries they fan
 * out, then the throttles that hold its jobs back. `since`: when the batch began, if known.
 */
export function batchProgress (batchId: string, since?: number): { show (s: BatchStatus): void, stop (): void } {
  const view = board({ interrupted: `interrupted; the batch goes on: hub status ${batchId} --watch` })
  const processing = view.bar({ label: 'processing', unit: 'records', extra: ' | {rate} | ETA {left} | {failed} failed', since })
  const deliveries = view.bar({ label: 'deliveries', unit: 'deliveries', extra: ' | {rate} | ETA {left} | {failed} failed', since })
  const why = view.note()
  return {
    show (s) {
      // While another upload is still feeding the batch, its jobs outnumber the receipt.
      const expected = Math.max(s.received.queued, total(s.counts))
      processing.update(done(s.counts), expected, { failed: String(s.counts.failed) })
      if (s.deliveries) {
        // Records still to process fan out too: their deliveries are projected from those so far
        // (not known before the first record is processed).
        const processed = done(s.counts)
        const projected = processed ? Math.round(total(s.deliveries) * expected / processed) : expected ? null : 0
        deliveries.update(done(s.deliveries), total(s.deliveries), { failed: String(s.deliveries.failed) }, projected)
      }
      why.set(throttled(s))
    },
    stop: () => view.stop()
  }
}

/**
 * The throttles holding the batch's jobs back: a paced system makes every call wait its turn;
 * otherwise jobs wait only when more are pending than the system may run at once.
 */
export function throttled (s: BatchStatus): string {
  return s.waitingOn
    .filter(w => w.perSecond !== null || w.pending > w.maxConcurrent)
    .map(w => `${w.system}: throttled to ${w.maxConcurrent} concurrent${w.perSecond !== null ? ` / ${w.perSecond} per second` : ''}`)
    .join('; ')
}

/** The ids that went wrong: rejected at upload, or failed in the pipeline (own jobs or deliveries). */
export const problems = (s: BatchStatus) => s.received.rejected + s.counts.failed + (s.deliveries?.failed ?? 0)

function describe (s: BatchStatus): string {
  if (s.direction === 'outbound') return `${s.scope} to ${s.target} (outbound${s.system ? `, ids of ${s.system}` : ', hub ids'})`
  return `${s.scope} from ${s.system} (inbound)`
}

function state (s: BatchStatus): string {
  if (s.finished) return s.state === 'aborted' ? 'the upload broke off, so nothing of it was queued' : 'finished'
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
  if (s.skips.length) {
    out.push(`skipped${s.counts.skipped > s.skips.length ? ` (the first ${s.skips.length} of ${s.counts.skipped})` : ''}:`)
    for (const k of s.skips) out.push(`  ${k.id}: ${k.reason}`)
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

/** An import's outcome: its counts, why it stopped if it did, and the first row errors. */
export function importSummary (s: ImportView): string {
  const out = [`import ${s.id}: ${s.status}, ${s.total} row${s.total === 1 ? '' : 's'}: ${s.success - s.unchanged} written, ${s.unchanged} unchanged, ${s.errors} with errors`]
  if (s.message) out.push(s.message)
  const shown = s.errorDetails.slice(0, 20)
  for (const e of shown) out.push(`  row ${e.row}${e.field ? ` ${e.field}` : ''}: ${e.message}`)
  // The hub keeps the first KEPT_ERRORS row errors: say where the rest can (or cannot) be read.
  const more: string[] = []
  if (s.errorDetails.length > shown.length) more.push(`${s.errorDetails.length - shown.length} more in GET /v1/imports/${s.id}`)
  if (s.errors > s.errorDetails.length) more.push(`${s.errors - s.errorDetails.length} not kept (the hub keeps the first ${KEPT_ERRORS})`)
  if (more.length) out.push(`  (${more.join('; ')})`)
  return out.join('\n') + '\n'
}
