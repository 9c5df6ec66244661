#!/usr/bin/env node
// hub: the command line for the hub: starts the server, and drives its manual sync API. Exit
// codes: 0 all went well, 1 some ids were rejected or failed, 2 the command could not do its work
// (usage, connection, key, API).
import { setTimeout as sleep } from 'node:timers/promises'
import { Command, CommanderError, Option } from 'commander'
import { CliError, HubClient, inFlags } from '../src/cli/client.ts'
import type { BatchStatus } from '../src/cli/client.ts'
import { batchProgress, board, importSummary, problems, receiptSummary, summary } from '../src/cli/output.ts'
import { version } from '../src/version.ts'

const POLL_MS = 500

interface Connection { url: string, key?: string }

const program = new Command('hub')
  .description('Command line for the integration hub: start it, run bulk syncs from a CSV of ids, follow their status.')
  .version(version)
  .exitOverride()
  .showHelpAfterError('(hub --help for usage)')
  .addHelpText('after', `
Examples:
  hub start
  export HUB_URL=http://127.0.0.1:8080 HUB_ADMIN_KEY=...
  hub sync --system shop --type customer --scope update --file ids.csv
  hub sync --direction outbound --target crm --scope customer/update --file hub-ids.csv
  hub status 0b5c6e1a-... --watch
  hub poll ledger customer --reset
  hub import customers.csv --type customer --override
  hub initialize ledger customer

Exit codes: 0 done, 1 some ids were rejected or failed, 2 the command could not run.`)

/** --url and --key, on every command that talks to the hub. */
function connection (cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'the hub\'s base URL').env('HUB_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--key <key>', 'admin API key').env('HUB_ADMIN_KEY'))
}

program.command('start')
  .description('start the hub (API, workers or both: HUB_ROLE), configured by environment variables such as DATABASE_URL, PORT, HUB_CONFIG')
  .action(async () => { await import('../src/server.ts') })

connection(program.command('sync')
  .description('stream a CSV of ids (header row with an "id" column, optionally "scope") to the hub as one batch, then follow it until every id is processed')
  .requiredOption('--file <path>', 'the CSV file of ids')
  .option('--system <id>', 'inbound: the system to fetch the records from; outbound: the system whose ids the file holds (default: hub record ids)')
  .option('--type <type>', 'data type (customer, product, order); optional when --scope names it')
  .option('--scope <scope>', 'the action (create, update, delete) or <type>/<action>; default update')
  .addOption(new Option('--direction <direction>', 'inbound fetches from --system; outbound pushes hub records to --target').choices(['inbound', 'outbound']))
  .option('--target <id>', 'outbound: the one system to push to')
  .option('--debug', 'the jobs jump the queue and record a step-by-step trace')
  .option('--no-wait', 'return as soon as the ids are queued'))
  .action(async (opts: Connection & { file: string, system?: string, type?: string, scope?: string, direction?: string, target?: string, debug?: boolean, wait: boolean }) => {
    const client = new HubClient(opts.url, opts.key)
    const upload = board({ interrupted: 'interrupted: the upload stopped, so the hub queued none of it; send the file again' })
    const sending = upload.bar({ label: 'sending', unit: 'bytes', extra: ' | {rate} | ETA {left}' })
    const queuing = upload.note()
    const since = performance.now()
    let receipt
    try {
      receipt = await client.sync({
        system: opts.system,
        type: opts.type,
        scope: scopeOf(opts.type, opts.scope),
        direction: opts.direction,
        target: opts.target,
        debug: opts.debug
      }, opts.file, (sent, size) => {
        sending.update(sent, size)
        queuing.set(sent === size ? 'the hub is queuing the last ids' : '')
      })
    } finally {
      // Answered: the hub is no longer queuing.
      queuing.set('')
      upload.stop()
    }
    if (!opts.wait) {
      process.stdout.write(receiptSummary(receipt))
      process.exitCode = receipt.rejectedCount ? 1 : 0
      return
    }
    const status = await follow(client, receipt.batchId, since)
    process.stdout.write(summary(status, receipt))
    process.exitCode = problems(status) ? 1 : 0
  })

// The import API's fields, as `hub import` names them.
const IMPORT_FLAGS = { type: '--type', system: '--system', key: '--match', delimiter: '--delimiter', overrideExisting: '--override', updateOnlyEmptyFields: '--only-empty' }

connection(program.command('import')
  .description('upload a CSV of records (POST /v1/imports) and follow the import with a progress bar until it is finished')
  .argument('<file>', 'the CSV: a header row of canonical field paths (or, with --system, that system\'s fields and an "id" column)')
  .requiredOption('--type <type>', 'data type (customer, product, order)')
  .option('--system <id>', "the rows are this system's records, mapped by its inbound flow")
  .option('--match <field>', 'the field that finds existing records (default: email_address, sku or number)')
  .option('--delimiter <char>', 'the column separator', ',')
  .option('--override', 'update records that exist already (default: leave them)')
  .option('--only-empty', 'with --override: set only fields that are empty now'))
  .action(async (file: string, opts: Connection & { type: string, system?: string, match?: string, delimiter: string, override?: boolean, onlyEmpty?: boolean }) => {
    const client = new HubClient(opts.url, opts.key)
    const view = board({ interrupted: 'interrupted; an import already answered goes on: GET /v1/imports' })
    const sending = view.bar({ label: 'sending', unit: 'bytes', extra: ' | {rate} | ETA {left}' })
    const since = performance.now()
    const { id, total } = await client.importFile({
      type: opts.type,
      delimiter: opts.delimiter,
      overrideExisting: String(Boolean(opts.override)),
      updateOnlyEmptyFields: String(Boolean(opts.onlyEmpty)),
      key: opts.match,
      system: opts.system
    }, file, (sent, size) => sending.update(sent, size)).catch(err => { view.stop(); throw inFlags(err, IMPORT_FLAGS) })
    const rows = view.bar({ label: 'importing', unit: 'rows', extra: ' | {rate} | ETA {left} | {errors} errors', since })
    let status
    try {
      for (;;) {
        status = await client.importStatus(id)
        rows.update(status.success + status.errors, total, { errors: String(status.errors) })
        if (status.status === 'finished' || status.status === 'error') break
        await sleep(POLL_MS)
      }
    } finally {
      view.stop()
    }
    process.stdout.write(importSummary(status))
    process.exitCode = status.errors || status.status === 'error' ? 1 : 0
  })

connection(program.command('status')
  .description('show where a batch stands (exit 1 when ids were rejected or failed)')
  .argument('<batchId>', 'the batch id `hub sync` printed')
  .option('--watch', 'follow the batch with a progress bar until it is finished'))
  .action(async (batchId: string, opts: Connection & { watch?: boolean }) => {
    const client = new HubClient(opts.url, opts.key)
    const status = opts.watch ? await follow(client, batchId) : await client.status(batchId)
    process.stdout.write(summary(status))
    process.exitCode = problems(status) || status.state === 'aborted' ? 1 : 0
  })

connection(program.command('poll')
  .description('poll a system for changes of one data type now (pull sync), and wait for the run to end')
  .argument('<system>', 'the system to poll')
  .argument('<type>', 'data type (customer, product, order)')
  .option('--reset', 'first clear the last-polled state, so this run is a full pull'))
  .action(async (system: string, type: string, opts: Connection & { reset?: boolean }) => {
    const client = new HubClient(opts.url, opts.key)
    if (opts.reset) await client.resetPoll(system, type)
    const answer = await client.poll(system, type)
    if (!answer.started) {
      const p = answer.progress
      process.stdout.write(`a poll of ${system} ${type} is already queued or running${p ? ` (${p.pages} pages, ${p.enqueued} changes so far)` : ''}; no second one started\n`)
      return
    }
    for (;;) {
      const state = (await client.pollState(system)).types.find(t => t.type === type)
      const run = state?.lastRun
      if (run && run.jobId === answer.jobId) {
        process.stdout.write(`${system} ${type}: ${run.pages} pages, ${run.seen} records seen, ${run.enqueued} changes queued, ${run.deleted} deletes${run.cut ? ' (batch limit reached: the rest follow in the next run)' : ''}\n`)
        if (run.error) throw new CliError(`the poll failed: ${run.error}`, 1)
        return
      }
      await sleep(POLL_MS)
    }
  })

connection(program.command('initialize')
  .description('load every record of one data type from a system (no batch limit), followed like a manual sync batch')
  .argument('<system>', 'the system to load from')
  .argument('<type>', 'data type (customer, product, order)')
  .option('--no-wait', 'return as soon as the load is queued'))
  .action(async (system: string, type: string, opts: Connection & { wait: boolean }) => {
    const client = new HubClient(opts.url, opts.key)
    const { batchId } = await client.initialize(system, type)
    if (!opts.wait) {
      process.stdout.write(`batch ${batchId}: follow it with hub status ${batchId} --watch\n`)
      return
    }
    const status = await follow(client, batchId!)
    process.stdout.write(summary(status))
    process.exitCode = problems(status) || status.state === 'aborted' ? 1 : 0
  })

/** `update` with --type customer is customer/update; a full scope passes as it is. */
function scopeOf (type?: string, scope?: string): string | undefined {
  if (!scope || scope.includes('/')) return scope
  if (!type) throw new CliError(`--scope ${scope} names only the action: add --type, or give a scope such as customer/${scope}`)
  return `${type}/${scope}`
}

/**
 * Poll the batch about every 500 ms, with progress bars, until it is finished. `since`: when
 * the batch began (the upload's start), so the first rates count from there.
 */
async function follow (client: HubClient, batchId: string, since?: number): Promise<BatchStatus> {
  const bar = batchProgress(batchId, since)
  let seen = false
  try {
    for (;;) {
      const status = await client.status(batchId)
      seen = true
      bar.show(status)
      if (status.finished) return status
      await sleep(POLL_MS)
    }
  } catch (err) {
    // Lost touch half-way: the batch itself is unaffected.
    if (seen && err instanceof CliError) err.message += ` (the batch goes on: hub status ${batchId} --watch)`
    throw err
  } finally {
    bar.stop()
  }
}

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2
  } else if (err instanceof CliError) {
    process.stderr.write(`hub: ${err.message}\n`)
    process.exitCode = err.exitCode
  } else {
    throw err
  }
}
