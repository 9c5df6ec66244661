// The CLI's HTTP client for the hub's sync API: one method per call, every failure turned into
// a CliError whose message is the one line the user sees.
import { randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { Readable } from 'node:stream'
import { request } from 'undici'
import type { BatchReceipt as Receipt } from '../sync/enqueue.ts'
import type { BatchStatus } from '../sync/status.ts'
import type { ImportView } from '../imports/store.ts'
import type { RunReport } from '../poll/state.ts'
import type { Triggered } from '../poll/trigger.ts'

type PollTriggered = Triggered & { batchId?: string }

/** An error the CLI reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  exitCode: number
  /** The fields the hub's answer named, when it was a 400 naming them. */
  fields?: string[]
  constructor (message: string, exitCode = 2) {
    super(message)
    this.exitCode = exitCode
  }
}

/**
 * `err` with the API's names of a command's options (`key:`, `overrideExisting=true`,
 * `delimiter=;`) said as the command's flags (`--match:`, `--override`, `--delimiter ';'`).
 */
export function inFlags (err: unknown, flags: Record<string, string>): unknown {
  if (!(err instanceof CliError)) return err
  for (const [field, flag] of Object.entries(flags)) {
    err.message = err.message
      .replace(new RegExp(`(: |\\n  )${field}:`, 'g'), `$1${flag}:`)
      .replace(new RegExp(`\\b${field}=true\\b`, 'g'), flag)
      .replace(new RegExp(`\\b${field}=([^\\s)]+)`, 'g'), `${flag} '$1'`)
  }
  return err
}

// The API's own types: the CLI and the hub cannot drift apart.
export type { BatchReceipt as Receipt, Rejection } from '../sync/enqueue.ts'
export type { BatchStatus, Counts } from '../sync/status.ts'
export type { ImportView } from '../imports/store.ts'

export interface SyncQuery {
  system?: string
  type?: string
  scope?: string
  direction?: string
  target?: string
  debug?: boolean
}

type Method = 'GET' | 'POST' | 'DELETE'

export class HubClient {
  readonly url: string
  readonly #key?: string

  constructor (url: string, key?: string) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new CliError(`--url: '${url}' is not an http(s) URL`)
    this.url = url.replace(/\/+$/, '')
    this.#key = key
  }

  /**
   * Stream `file` as the CSV body of POST /v1/sync; `onSent` hears the bytes handed to the
   * connection so far. The file is read a chunk at a time, never whole.
   */
  async sync (query: SyncQuery, file: string, onSent: (bytes: number, size: number) => void): Promise<Receipt> {
    const size = await fileSize(file)
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== false) params.set(name, String(value))
    }
    // As for an import (below): the options alone first, so a wrong key or system stops here.
    const options = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined && v !== false))
    await this.#preflight('/v1/sync', Buffer.from(JSON.stringify({ ...options, ids: [] })), 'application/json', 'ids')
    const upload = countedUpload(file, size, onSent)
    onSent(0, size)
    try {
      // The hub answers once the last id is queued, so a big upload may take a while: no
      // timeout on the answer (a dead connection still ends the request).
      return await this.#call<Receipt>('POST', `/v1/sync?${params}`, {
        body: Readable.from(upload.chunks()),
        headers: { 'content-type': 'text/csv', 'content-length': String(size) },
        headersTimeout: 0
      })
    } catch (err) {
      throw upload.failure(err)
    }
  }

  /**
   * Stream `file` as the `file` part of a multipart POST /v1/imports after `fields`; `onSent`
   * hears the bytes sent so far. The body's length is known up front, the file read a chunk at a time.
   */
  async importFile (fields: Record<string, string | undefined>, file: string, onSent: (bytes: number, size: number) => void): Promise<{ id: string, total: number }> {
    const size = await fileSize(file)
    const boundary = `hub-${randomUUID()}`
    let head = ''
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined) head += `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
    }
    const tail = `\r\n--${boundary}--\r\n`
    await this.#preflight('/v1/imports', Buffer.from(head + `--${boundary}--\r\n`), `multipart/form-data; boundary=${boundary}`, 'file')
    head += `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${basename(file).replace(/["\r\n]/g, '_')}"\r\ncontent-type: text/csv\r\n\r\n`
    const upload = countedUpload(file, size, onSent)
    async function * body (): AsyncGenerator<Buffer> {
      yield Buffer.from(head)
      yield * upload.chunks()
      yield Buffer.from(tail)
    }
    onSent(0, size)
    try {
      return await this.#call('POST', '/v1/imports', {
        body: Readable.from(body()),
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(Buffer.byteLength(head) + size + Buffer.byteLength(tail)) },
        headersTimeout: 0
      })
    } catch (err) {
      throw upload.failure(err)
    }
  }

  async importStatus (id: string): Promise<ImportView> {
    return await this.#call<ImportView>('GET', `/v1/imports/${encodeURIComponent(id)}`)
  }

  async status (batchId: string): Promise<BatchStatus> {
    return await this.#call<BatchStatus>('GET', `/v1/sync/${encodeURIComponent(batchId)}`)
  }

  /** Pull sync (routes/poll): run a poll now, clear its state, initialize, read the state. */
  async poll (system: string, type: string): Promise<PollTriggered> {
    return await this.#call<PollTriggered>('POST', `/v1/systems/${encodeURIComponent(system)}/poll/${encodeURIComponent(type)}`)
  }

  async resetPoll (system: string, type: string): Promise<void> {
    await this.#call<void>('DELETE', `/v1/systems/${encodeURIComponent(system)}/poll/${encodeURIComponent(type)}/state`)
  }

  async initialize (system: string, type: string): Promise<PollTriggered> {
    return await this.#call<PollTriggered>('POST', `/v1/systems/${encodeURIComponent(system)}/initialize/${encodeURIComponent(type)}`)
  }

  async pollState (system: string): Promise<{ system: string, types: Array<{ type: string, lastRun: RunReport | null, running: RunReport | null }> }> {
    return await this.#call('GET', `/v1/systems/${encodeURIComponent(system)}/poll`)
  }

  /**
   * The hub answers a wrong key (or a read-only one, a bad type or system) only after the whole
   * file has been sent: send the request without its file first, which the hub checks as it
   * would the upload and, when all is right, answers naming only `missing`. Nothing is stored.
   */
  async #preflight (path: string, body: Buffer, contentType: string, missing: string): Promise<void> {
    try {
      await this.#call('POST', path, { body: Readable.from([body]), headers: { 'content-type': contentType } })
    } catch (err) {
      if (!(err instanceof CliError && err.fields?.length === 1 && err.fields[0] === missing)) throw err
    }
  }

  async #call<T> (method: Method, path: string, opts: { body?: Readable, headers?: Record<string, string>, headersTimeout?: number } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers }
    if (this.#key) headers.authorization = `Bearer ${this.#key}`
    let res
    let text: string
    try {
      res = await request(`${this.url}${path}`, { method, headers, body: opts.body, headersTimeout: opts.headersTimeout })
      text = await res.body.text()
    } catch (err) {
      throw new CliError(`cannot reach the hub at ${this.url}: ${reason(err)}`)
    }
    if (res.statusCode === 204) return undefined as T
    let json: any
    try {
      json = JSON.parse(text)
    } catch {
      throw new CliError(`the hub at ${this.url} answered ${method} ${path.split('?')[0]} with ${res.statusCode} and no JSON (is this the hub?)`)
    }
    if (res.statusCode < 300) return json as T
    const message: string = json?.error?.message ?? `HTTP ${res.statusCode}`
    if (res.statusCode === 401) throw new CliError(`the hub rejected the admin key (401): ${message}; pass --key or set HUB_ADMIN_KEY`)
    if (res.statusCode === 403) throw new CliError(`the hub refused the admin key (403): ${message}`)
    const details = json?.error?.details
    const batchId = details?.batchId
    // A 400's message is its first problem; the others follow it, a line each.
    const more = Array.isArray(details) ? details.slice(1).map((d: { path?: string, message?: string }) => `\n  ${d.path}: ${d.message}`).join('') : ''
    const err = new CliError(`the hub answered ${res.statusCode}: ${message}${batchId ? ` (batch ${batchId})` : ''}${more}`)
    if (res.statusCode === 400 && Array.isArray(details)) err.fields = details.map((d: { path?: string }) => String(d.path))
    throw err
  }
}

/**
 * A file's chunks for a streamed request body, reporting the bytes sent after each. A failed
 * request is explained by the file when reading it was what failed.
 */
function countedUpload (file: string, size: number, onSent: (bytes: number, size: number) => void) {
  let readError: Error | undefined
  return {
    async * chunks (): AsyncGenerator<Buffer> {
      let sent = 0
      try {
        for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
          sent += chunk.length
          yield chunk
          onSent(sent, size)
        }
      } catch (err) {
        throw (readError = err as Error)
      }
    },
    failure: (err: unknown) => readError ? new CliError(`cannot read ${file}: ${readError.message}`) : err
  }
}

async function fileSize (file: string): Promise<number> {
  try {
    const s = await stat(file)
    if (!s.isFile()) throw new CliError(`cannot read ${file}: not a file`)
    return s.size
  } catch (err) {
    if (err instanceof CliError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new CliError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
}

/** The most telling part of a connection error (fetch-style errors hide it in `cause`). */
function reason (err: unknown): string {
  let e = err as { message?: string, code?: string, cause?: unknown, errors?: unknown[] }
  while (e?.cause) e = e.cause as typeof e
  if (!e?.message && e?.errors?.length) e = e.errors[0] as typeof e
  return e?.message || e?.code || String(err)
}
