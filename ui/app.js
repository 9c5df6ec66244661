// The dashboard: plain ES module, no build step. It calls the same admin API as everyone else,
// with the admin key kept for this tab only (sessionStorage).
const $ = (id) => document.getElementById(id)
const view = $('view')
let timer

/** An element with attributes (on* are listeners) and children (strings become text). */
function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : v)
  }
  el.append(...children.flat().filter(c => c !== undefined && c !== null).map(c => c instanceof Node ? c : String(c)))
  return el
}

class SignedOut extends Error {}

async function api (path, opts = {}) {
  const key = sessionStorage.getItem('hubKey')
  if (!key) throw new SignedOut()
  const res = await fetch(path, { ...opts, headers: { authorization: `Bearer ${key}`, ...opts.headers } })
  if (res.status === 401) throw new SignedOut()
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text()
  if (!res.ok) throw Object.assign(new Error(body?.error?.message ?? `${res.status}`), { details: body?.error?.details })
  return body
}

const table = (head, rows) => h('div', { class: 'wrap' }, h('table', {}, h('thead', {}, h('tr', {}, head.map(x => h('th', {}, x)))), h('tbody', {}, rows)))
const row = (...cells) => h('tr', {}, cells.map(c => h('td', {}, c)))
/** An error in a line; a 400 naming several problems (a CSV header's, say) lists them all. */
function fail (err) {
  const issues = Array.isArray(err.details) ? err.details.filter(i => typeof i?.message === 'string') : []
  if (issues.length < 2) return h('p', { class: 'bad', role: 'alert' }, err.message)
  return h('div', { class: 'bad', role: 'alert' }, h('ul', {}, issues.map(i => h('li', {}, `${i.path}: ${i.message}`))))
}

function signedOut (message = '') {
  sessionStorage.removeItem('hubKey')
  clearInterval(timer)
  view.replaceChildren()
  $('nav').hidden = true
  $('signin').hidden = false
  $('signin-error').textContent = message
}

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault()
  sessionStorage.setItem('hubKey', $('key').value)
  try {
    await api('/v1/monitor/overview')
  } catch (err) {
    return signedOut(err instanceof SignedOut ? 'That key is not valid.' : err.message)
  }
  $('key').value = ''
  $('signin').hidden = true
  $('nav').hidden = false
  route()
})
$('signout').addEventListener('click', () => signedOut())

// Completed jobs a minute, sampled at each refresh, for the sparkline.
const samples = []
function sparkline (values) {
  // One sample is drawn as a flat line: the chart shows from the first refresh.
  if (values.length === 1) values = [values[0], values[0]]
  const max = Math.max(1, ...values)
  const step = 300 / Math.max(1, values.length - 1)
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(58 - v / max * 54).toFixed(1)}`).join(' ')
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('class', 'spark')
  svg.setAttribute('viewBox', '0 0 300 60')
  svg.setAttribute('preserveAspectRatio', 'none')
  svg.innerHTML = `<polygon fill="#cde" points="0,60 ${points} 300,60"/><polyline fill="none" stroke="#36c" stroke-width="2" points="${points}"/>`
  return svg
}

async function overview () {
  const o = await api('/v1/monitor/overview')
  samples.push(o.queues.reduce((n, q) => n + q.completed.last1m, 0))
  if (samples.length > 60) samples.shift()
  return [
    h('h1', {}, 'Overview'),
    h('p', {}, `Jobs completed in the last minute: ${samples.at(-1)}`), sparkline(samples),
    h('h2', {}, 'Queues'),
    table(['queue', 'unfinished', 'waiting', 'deferred', 'oldest (s)', 'done 1/5/60 min', 'retried / held 60 min', 'failed 60 min'], o.queues.map(q => row(
      q.queue, Object.entries(q.states).map(([s, n]) => `${s} ${n}`).join(', ') || '0', q.waiting, q.deferred,
      q.oldestAgeSeconds === null ? '–' : Math.round(q.oldestAgeSeconds),
      `${q.completed.last1m} / ${q.completed.last5m} / ${q.completed.last60m}`, `${q.retried.last60m} / ${q.held.last60m}`, q.failed.last60m))),
    h('p', {}, (o.oldestWaiting ? `Oldest waiting: ${o.oldestWaiting.queue}, ${Math.round(o.oldestWaiting.ageSeconds)} s.` : 'Nothing waiting for a worker.') +
      ((n) => n ? ` ${n} deferred: retrying later, or held while their system is down.` : '')(o.queues.reduce((n, q) => n + q.deferred, 0))),
    h('h2', {}, 'Systems'),
    table(['system', 'breaker', 'throttle', 'last hour'], o.systems.map(s => row(
      s.id, h('span', { class: s.breaker.state === 'open' ? 'bad' : 'good' }, s.breaker.state + (s.breaker.lastError ? `: ${s.breaker.lastError}` : '')),
      `${s.throttle.maxConcurrent} at once${s.throttle.perSecond ? `, ${s.throttle.perSecond}/s` : ''}`,
      Object.entries(s.lastHour).map(([k, n]) => `${k} ${n}`).join(', ')))),
    h('p', {}, `Hub processes: ${o.workers.length}. Errors in the last hour: ${o.errors.lastHour}, unresolved: ${o.errors.unresolved}.`)
  ]
}

function formParams (form) {
  return new URLSearchParams([...new FormData(form)].filter(([, v]) => v !== ''))
}

async function errors (params) {
  const f = h('form', { class: 'row', id: 'error-filter' },
    h('label', {}, 'System', h('input', { name: 'system', value: params.get('system') ?? '' })),
    h('label', {}, 'Message', h('input', { name: 'text', value: params.get('text') ?? '' })),
    h('label', {}, 'State', h('select', { name: 'resolved' },
      h('option', { value: 'false', selected: params.get('resolved') !== 'true' && params.get('resolved') !== '' }, 'open'),
      h('option', { value: 'true', selected: params.get('resolved') === 'true' }, 'resolved'),
      h('option', { value: '', selected: params.get('resolved') === '' }, 'all'))),
    h('button', {}, 'Filter'))
  f.addEventListener('submit', (e) => { e.preventDefault(); location.hash = `errors?${new URLSearchParams(new FormData(f))}` })
  const query = new URLSearchParams([...params].filter(([, v]) => v !== ''))
  // The State choice starts on "open": so does the list (an empty choice is "all").
  if (params.get('resolved') === null) query.set('resolved', 'false')
  const { errors: list } = await api(`/v1/errors?${query}`)
  const retryAll = h('button', {
    type: 'button',
    onclick: async () => {
      const body = Object.fromEntries([...query].filter(([k]) => ['system', 'text'].includes(k)))
      try {
        const r = await api('/v1/errors/retry', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        retryAll.replaceWith(h('span', {}, `queued ${r.queued.length}, refused ${r.refused.length}`))
      } catch (err) {
        // Said where the button was: a replay the hub did not take must not look taken.
        if (err instanceof SignedOut) return signedOut('Your key is no longer valid.')
        retryAll.replaceWith(fail(err))
      }
    }
  }, 'Retry all matching')
  return [
    h('h1', {}, 'Errors'), f, retryAll,
    table(['when', 'system', 'scope', 'message', 'status', 'record', 'state'], list.map(e => {
      const state = e.supersededBy
        ? h('span', {}, `failed again: error ${e.supersededBy}`)
        : e.resolvedAt
        ? h('span', { class: 'good' }, 'resolved')
        : h('button', {
          type: 'button',
          class: 'retry',
          onclick: async (ev) => {
            const r = await api(`/v1/errors/${e.id}/retry`, { method: 'POST' }).catch(err => ({ error: err.message }))
            ev.target.replaceWith(h('span', {}, r.error ?? `retrying (job ${r.jobId})`))
          }
        }, 'Retry')
      return row(new Date(e.at).toLocaleString(), `${e.system} ${e.direction}`, e.scope, e.message, e.httpStatus ?? '–',
        e.recordId ? h('a', { href: `#record?type=${e.type}&id=${e.recordId}` }, 'history') : (e.externalId ?? '–'),
        state)
    }))
  ]
}

async function records (params) {
  const f = h('form', { class: 'row', id: 'record-search' },
    h('label', {}, 'Type', h('select', { name: 'type' }, ['customer', 'product', 'order'].map(t => h('option', { selected: params.get('type') === t }, t)))),
    h('label', {}, 'External id (any system) or hub id', h('input', { name: 'q', value: params.get('q') ?? '', required: true })),
    h('button', {}, 'Search'))
  f.addEventListener('submit', (e) => { e.preventDefault(); location.hash = `records?${formParams(f)}` })
  const out = [h('h1', {}, 'Records'), f]
  const q = params.get('q')
  if (!q) return out
  const type = params.get('type') ?? 'customer'
  if (/^[0-9a-f-]{36}$/i.test(q)) location.hash = `record?type=${type}&id=${q}`
  const { links } = await api(`/v1/records/${type}/by-external-id/${encodeURIComponent(q)}`)
  out.push(links.length
    ? table(['system', 'external id', 'record'], links.map(l => row(l.systemId, l.externalId, h('a', { href: `#record?type=${type}&id=${l.recordId}` }, l.recordId))))
    : h('p', {}, `No ${type} has the external id ${q}.`))
  return out
}

async function record (params) {
  const r = await api(`/v1/records/${params.get('type')}/${params.get('id')}`)
  return [
    h('h1', {}, `${r.type} ${r.id}`),
    h('p', {}, `version ${r.version}, updated ${new Date(r.updatedAt).toLocaleString()}${r.deletedAt ? ', deleted' : ''}`),
    h('h2', {}, 'Links'),
    table(['system', 'external id', 'since'], r.links.map(l => row(l.systemId, l.externalId, new Date(l.createdAt).toLocaleString()))),
    h('h2', {}, 'History'),
    table(['when', 'system', 'direction', 'action', 'outcome', 'reason', 'job'], r.history.map(x => row(
      new Date(x.at).toLocaleString(), x.systemId, x.direction, x.action, x.outcome, x.reason ?? '', x.jobId ? h('a', { href: `#job?id=${x.jobId}` }, 'job') : ''))),
    h('h2', {}, 'Data'), h('pre', {}, JSON.stringify(r.data, null, 2))
  ]
}

async function job (params) {
  const j = await api(`/v1/jobs/${params.get('id')}`)
  return [h('h1', {}, `Job ${j.id}`), h('pre', { id: 'job' }, JSON.stringify(j, null, 2))]
}

async function sync () {
  const { systems } = await api('/v1/systems')
  const fetchable = systems.find(s => (s.flows ?? []).some(f => f.direction === 'inbound'))
  const f = h('form', { id: 'sync-form' },
    h('div', { class: 'row' },
      // The first system that can be fetched from is chosen: an inbound sync of any other is refused.
      h('label', {}, 'System', h('select', { name: 'system' }, systems.map(s => h('option', s === fetchable ? { selected: true } : {}, s.id)))),
      h('label', {}, 'Scope', h('input', { name: 'scope', value: 'customer/update', required: true })),
      h('label', {}, 'Direction', h('select', { name: 'direction' }, h('option', {}, 'inbound'), h('option', {}, 'outbound'))),
      h('label', {}, 'Target (outbound)', h('input', { name: 'target' })),
      h('label', {}, h('span', {}, 'Debug'), h('input', { name: 'debug', type: 'checkbox', value: 'true' }))),
    h('label', {}, 'Ids, one a line, or a CSV with an id column', h('textarea', { name: 'ids' })),
    h('label', {}, 'or a CSV file', h('input', { name: 'file', type: 'file', accept: '.csv,text/csv' })),
    h('button', {}, 'Sync'))
  const rejected = h('div', { id: 'sync-rejected' })
  const progress = h('div', { id: 'sync-progress' })
  f.addEventListener('submit', async (e) => {
    e.preventDefault()
    rejected.replaceChildren()
    const data = new FormData(f)
    const file = data.get('file')
    let text = file && file.size ? await file.text() : String(data.get('ids')).trim()
    // A header is a first line with an id column, as the API reads it; pasted ids get one.
    const added = !text.split('\n')[0].split(',').map(c => c.trim().toLowerCase()).includes('id')
    if (added) text = 'id\n' + text
    const query = new URLSearchParams([...data].filter(([k, v]) => ['system', 'scope', 'direction', 'target', 'debug'].includes(k) && v !== ''))
    try {
      const receipt = await api(`/v1/sync?${query}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: text })
      rejected.replaceChildren(...rejections(receipt, added ? 1 : 0))
      await follow(receipt.batchId, progress)
    } catch (err) {
      progress.replaceChildren(fail(err))
    }
  })
  return [h('h1', {}, 'Manual sync'), f, rejected, progress]
}

/**
 * The lines the upload refused, each with why. The API counts lines from the header, so lines
 * are shown less the header the form added: line 1 is the first id as pasted (or in the file).
 */
function rejections (receipt, added) {
  if (!receipt.rejectedCount) return []
  const line = (n) => n - added
  // "duplicate of line N" is the one reason that names a line.
  const why = (reason) => reason.replace(/^duplicate of line (\d+)$/, (_, n) => `duplicate of line ${line(Number(n))}`)
  const listed = receipt.rejected.length < receipt.rejectedCount ? ` (the first ${receipt.rejected.length} listed)` : ''
  return [h('p', { class: 'bad' }, `${receipt.rejectedCount} line${receipt.rejectedCount === 1 ? '' : 's'} rejected, not queued${listed}:`),
    table(['line', 'id', 'why'], receipt.rejected.map(r => row(line(r.line), r.id.trim() || '–', why(r.reason))))]
}

/** What a debug job was for: the id its batch named (the source's, or the hub record's), read once. */
function jobLabel (labels, id) {
  // The job id's end, if its data cannot be read: UUIDv7s of one batch share their beginning.
  if (!labels.has(id)) labels.set(id, api(`/v1/jobs/${id}`).then(j => String(j.data?.id ?? j.data?.recordId ?? id.slice(-8)), () => id.slice(-8)))
  return labels.get(id)
}

/** Show a batch's progress until it finishes, with its failures, skips and debug jobs (each linked to its job and trace). */
async function follow (batchId, into) {
  const labels = new Map()
  for (;;) {
    const b = await api(`/v1/sync/${batchId}`)
    const debugLabels = await Promise.all((b.debugJobs ?? []).map(id => jobLabel(labels, id)))
    into.replaceChildren(h('p', {}, `Batch ${b.batchId}: ${b.finished ? 'finished' : 'running'}`),
      h('pre', {}, JSON.stringify({ counts: b.counts, deliveries: b.deliveries, received: b.received }, null, 2)),
      b.failures.length
        ? table(['system', 'id', 'message'], b.failures.map(x => row(x.system, x.jobId ? h('a', { href: `#job?id=${x.jobId}` }, x.externalId ?? x.recordId ?? 'job') : (x.externalId ?? ''), x.message)))
        : '',
      // Ids skipped, with why (not found at the source; a delete the source contradicts).
      b.skips.length
        ? h('div', { id: 'sync-skips' }, h('p', {}, 'Skipped:'), table(['id', 'why'], b.skips.map(k => row(h('a', { href: `#job?id=${k.jobId}` }, k.id), k.reason))))
        : '',
      // A debug batch lists its jobs by the id each fetched (or delivered), the job id in the
      // link's title: each opens on its step-by-step trace.
      b.debugJobs?.length
        ? h('p', { id: 'sync-debug' }, 'Debug traces: ', ...b.debugJobs.flatMap((id, i) => [i ? ', ' : '', h('a', { href: `#job?id=${id}`, title: `job ${id}` }, debugLabels[i])]))
        : '')
    if (b.finished) {
      into.firstChild.className = 'good'
      return
    }
    await new Promise(resolve => setTimeout(resolve, 1000))
  }
}

/** A poll run in a line: what it saw and queued, and how it ended. */
function runSummary (r) {
  const counts = `${r.pages} pages, ${r.seen} seen, ${r.enqueued} queued${r.deleted ? `, ${r.deleted} deleted` : ''}`
  if (!r.endedAt) return counts
  const ended = r.error ? `failed: ${r.error}` : r.cut ? 'batch limit reached, the rest next run' : 'complete'
  return `${new Date(r.endedAt).toLocaleString()}: ${counts}; ${ended}`
}

async function poll () {
  const { systems } = await api('/v1/systems')
  const out = [h('h1', {}, 'Polling')]
  for (const s of systems) {
    const { types } = await api(`/v1/systems/${s.id}/poll`)
    if (!types.length) continue
    const act = (type, method, path, label) => h('button', {
      type: 'button',
      onclick: async (ev) => {
        const r = await api(`/v1/systems/${s.id}/${path}`, { method }).catch(err => ({ error: err.message }))
        ev.target.replaceWith(h('span', {}, r?.error ?? (r?.running ? 'already running' : r?.started ? 'started' : 'reset')))
      }
    }, label)
    out.push(h('h2', {}, s.id), table(['type', 'mode', 'schedule', 'running', 'last run', 'next run', 'earlier error', ''], types.map(x => row(
      x.type, x.mode, x.schedule,
      x.running ? runSummary(x.running) : '–',
      x.lastRun ? h('span', { class: x.lastRun.error ? 'bad' : undefined }, runSummary(x.lastRun)) : '–',
      new Date(x.nextRun).toLocaleString(),
      // The last error, when it is not the last run's own.
      x.lastError && x.lastError !== x.lastRun?.error ? x.lastError : '',
      h('span', {}, act(x.type, 'POST', `poll/${x.type}`, 'Poll now'), ' ', act(x.type, 'DELETE', `poll/${x.type}/state`, 'Reset'))))))
  }
  if (out.length === 1) out.push(h('p', {}, 'No system polls. An inbound flow polls when it has poll and its type a list endpoint (README: Pull sync).'))
  return out
}

// The field an import matches existing records by unless told otherwise (the API's default).
const importKeys = { customer: 'email_address', product: 'sku', order: 'number' }

async function imports () {
  const key = h('input', { name: 'key', placeholder: importKeys.customer })
  // Only-empty tells how override updates a record: without override there is nothing to tell
  // (the API refuses the pair), so it is offered only with override.
  const onlyEmpty = h('input', { name: 'updateOnlyEmptyFields', type: 'checkbox', value: 'true', disabled: true })
  const override = h('input', {
    name: 'overrideExisting',
    type: 'checkbox',
    value: 'true',
    onchange: () => { onlyEmpty.disabled = !override.checked; if (!override.checked) onlyEmpty.checked = false }
  })
  const f = h('form', { class: 'row', id: 'import-form' },
    h('label', {}, 'Type', h('select', { name: 'type', onchange: (e) => { key.placeholder = importKeys[e.target.value] } }, Object.keys(importKeys).map(t => h('option', {}, t)))),
    h('label', {}, 'System (optional)', h('input', { name: 'system' })),
    h('label', {}, 'Match existing by', key),
    h('label', {}, 'Delimiter', h('select', { name: 'delimiter' },
      [[',', 'comma'], [';', 'semicolon'], ['\t', 'tab'], ['|', 'pipe']].map(([value, name]) => h('option', { value }, name)))),
    h('label', {}, h('span', {}, 'Override existing'), override),
    h('label', {}, h('span', {}, 'Only fill empty fields'), onlyEmpty),
    h('label', {}, 'CSV file', h('input', { name: 'file', type: 'file', accept: '.csv,text/csv', required: true })),
    h('button', {}, 'Import'))
  const note = h('div', { id: 'import-note' })
  f.addEventListener('submit', async (e) => {
    e.preventDefault()
    // The fields first, then the file: the API reads the options before the rows.
    const data = new FormData()
    for (const [k, v] of new FormData(f)) if (k !== 'file' && v !== '') data.append(k, v)
    data.append('file', new FormData(f).get('file'))
    try {
      const r = await api('/v1/imports', { method: 'POST', body: data })
      note.replaceChildren(h('p', {}, `Import ${r.id} queued: ${r.total} rows.`))
      await refresh()
    } catch (err) {
      note.replaceChildren(fail(err))
    }
  })
  // The list refreshes itself every 2 s, the form (a file chosen, say) is left alone.
  const list = h('div', {})
  const refresh = async () => {
    const { imports: all } = await api('/v1/imports')
    // As the CLI counts them: success includes the rows that changed nothing.
    list.replaceChildren(table(['created', 'type', 'status', 'rows', 'written', 'unchanged', 'errors', 'message'], all.map(i => row(
      new Date(i.createdAt).toLocaleString(), i.type, i.status, i.total, i.success - i.unchanged, i.unchanged, i.errors,
      i.message ?? i.errorDetails.slice(0, 3).map(d => `row ${d.row} ${d.field}: ${d.message}`).join('; ')))))
  }
  await refresh()
  timer = setInterval(() => refresh().catch(err => list.replaceChildren(fail(err))), 2000)
  return [h('h1', {}, 'Imports'), f, note, list]
}

const views = { overview, errors, records, record, job, sync, poll, imports }
// Pages that refresh themselves every 2 s (not ones with a form being filled in).
const live = new Set(['overview', 'poll'])

async function route () {
  clearInterval(timer)
  const [name, query] = (location.hash.slice(1) || 'overview').split('?')
  const show = views[name] ?? overview
  const params = new URLSearchParams(query)
  const render = async () => {
    try {
      view.replaceChildren(...await show(params))
    } catch (err) {
      if (err instanceof SignedOut) return signedOut('Your key is no longer valid.')
      view.replaceChildren(fail(err))
    }
  }
  await render()
  if (live.has(name || 'overview')) timer = setInterval(render, 2000)
}

window.addEventListener('hashchange', () => { if (sessionStorage.getItem('hubKey')) route() })
if (sessionStorage.getItem('hubKey')) {
  $('nav').hidden = false
  route()
} else {
  signedOut()
}
