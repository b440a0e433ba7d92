// Metrics derived from the audit log: exact values, promtool-clean exposition, incremental reads, the server.
import {appendFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync, renameSync} from 'node:fs'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {appendAudit} from '../../src/core/records/audit.js'
import {MetricsReader, renderMetrics, serveMetrics} from '../../src/core/records/metrics.js'
import type {SddPaths} from '../../src/core/records/paths.js'
import {run} from '../../src/core/process.js'
import {haveBinary, tempSdd} from './audit-fixtures.js'

let sdd: ReturnType<typeof tempSdd>
let paths: SddPaths

beforeEach(() => {
  sdd = tempSdd()
  paths = sdd.paths
})
afterEach(() => sdd.cleanup())

/** `name{labels} value` lines of an exposition, as a map (labels in the order prom-client prints them). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }

  return out
}

/** Two start/stop cycles with different auth modes and one share, as the lead's code writes them. */
async function twoCyclesAndAShare(): Promise<void> {
  await appendAudit(paths, {auth_mode: 'token', event: 'start', jti: 'j1', preview_id: 'p-00000001', provider: 'cloudflared'})
  await appendAudit(paths, {auth_mode: 'basic', event: 'start', preview_id: 'p-00000002', provider: 'local'})
  await appendAudit(paths, {auth_mode: 'token', event: 'link', jti: 'j2', preview_id: 'p-00000001'})
  await appendAudit(paths, {event: 'revoke', jti: 'j2', preview_id: 'p-00000001'})
  await appendAudit(paths, {event: 'restart', preview_id: 'p-00000002'})
  await appendAudit(paths, {event: 'stop', preview_id: 'p-00000001', reason: 'operator'})
  await appendAudit(paths, {event: 'stop', preview_id: 'p-00000002', reason: 'expiry'})
}

describe('metrics from the audit log', () => {
  it('an empty log: zeroed known series, HELP and TYPE for each family', async () => {
    const text = await renderMetrics(paths)
    for (const [name, type] of [
      ['preview_started_total', 'counter'],
      ['preview_stopped_total', 'counter'],
      ['preview_link_issued_total', 'counter'],
      ['preview_active', 'gauge'],
    ]) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'))
      expect(text).toContain(`# TYPE ${name} ${type}\n`)
    }

    const s = samples(text)
    expect(s.get('preview_stopped_total{reason="crash"}')).toBe(0)
    expect(s.get('preview_link_issued_total{auth_mode="none"}')).toBe(0)
    expect(s.get('preview_active')).toBe(0)
  })

  it('exact values after two start/stop cycles with different auth modes and one share', async () => {
    await twoCyclesAndAShare()
    expect(Object.fromEntries(samples(await renderMetrics(paths)))).toEqual({
      preview_active: 0,
      'preview_link_issued_total{auth_mode="basic"}': 1,
      'preview_link_issued_total{auth_mode="none"}': 0,
      'preview_link_issued_total{auth_mode="token"}': 2,
      'preview_started_total{provider="cloudflared",auth_mode="token"}': 1,
      'preview_started_total{provider="local",auth_mode="basic"}': 1,
      'preview_stopped_total{reason="crash"}': 0,
      'preview_stopped_total{reason="expiry"}': 1,
      'preview_stopped_total{reason="operator"}': 1,
    })
  })

  it('preview_active counts previews started and not stopped; a stray stop does not go negative', async () => {
    const reader = new MetricsReader(paths)
    await appendAudit(paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
    await appendAudit(paths, {auth_mode: 'none', event: 'start', preview_id: 'p-00000002', provider: 'local'})
    expect(samples(await reader.exposition()).get('preview_active')).toBe(2)
    await appendAudit(paths, {event: 'stop', preview_id: 'p-00000001', reason: 'crash'})
    await appendAudit(paths, {event: 'stop', preview_id: 'p-00000009', reason: 'operator'})
    const s = samples(await reader.exposition())
    expect(s.get('preview_active')).toBe(1)
    expect(s.get('preview_stopped_total{reason="crash"}')).toBe(1)
  })

  it('promtool check metrics finds nothing to complain about', async (ctx) => {
    if (!(await haveBinary('promtool'))) {
      if (process.env.CI) throw new Error('promtool is missing (Debian package prometheus); CI must install it')
      ctx.skip('promtool not installed: apt-get install prometheus')
    }

    await twoCyclesAndAShare()
    const text = await renderMetrics(paths)
    const res = await run('promtool', ['check', 'metrics'], {cwd: sdd.dir, input: text, timeoutMs: 30_000})
    expect(res, `${res.stdout}\n${res.stderr}`).toMatchObject({exitCode: 0, stderr: '', stdout: ''})
  })
})

describe('MetricsReader reads incrementally', () => {
  it('reads only the appended bytes: an earlier line changed in place is not re-read', async () => {
    await appendAudit(paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
    await appendAudit(paths, {auth_mode: 'token', event: 'link', preview_id: 'p-00000001'})
    const reader = new MetricsReader(paths)
    await reader.refresh()
    const firstOffset = reader.offset
    expect(firstOffset).toBe(readFileSync(paths.audit).length)
    // Same length, earlier in the file: a reader that starts over would now count a 'basic' start.
    const text = readFileSync(paths.audit, 'utf8')
    writeFileSync(paths.audit, text.replace('"auth_mode":"token"', '"auth_mode":"basic"'))
    await appendAudit(paths, {auth_mode: 'none', event: 'link', preview_id: 'p-00000001'})
    const s = samples(await reader.exposition())
    expect(reader.offset).toBeGreaterThan(firstOffset)
    expect(reader.restarts).toBe(0)
    expect(s.get('preview_started_total{provider="local",auth_mode="token"}')).toBe(1)
    expect(s.has('preview_started_total{provider="local",auth_mode="basic"}')).toBe(false)
    expect(s.get('preview_link_issued_total{auth_mode="none"}')).toBe(1)
  })

  it('leaves a partial last line for the next refresh', async () => {
    await appendAudit(paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
    const reader = new MetricsReader(paths)
    await reader.refresh()
    const line = JSON.stringify({auth_mode: 'basic', event: 'start', preview_id: 'p-00000002', provider: 'ngrok', seq: 2})
    appendFileSync(paths.audit, line.slice(0, 30))
    const before = reader.offset
    let s = samples(await reader.exposition())
    expect(reader.offset).toBe(before)
    expect(s.has('preview_started_total{provider="ngrok",auth_mode="basic"}')).toBe(false)
    expect(reader.skipped).toBe(0)
    appendFileSync(paths.audit, line.slice(30) + '\n')
    s = samples(await reader.exposition())
    expect(s.get('preview_started_total{provider="ngrok",auth_mode="basic"}')).toBe(1)
    expect(s.get('preview_active')).toBe(2)
  })

  it('starts over when the file shrinks', async () => {
    await twoCyclesAndAShare()
    const reader = new MetricsReader(paths)
    await reader.refresh()
    truncateSync(paths.audit, 0)
    await appendAudit(paths, {auth_mode: 'none', event: 'start', preview_id: 'p-00000003', provider: 'bore'})
    const s = samples(await reader.exposition())
    expect(reader.restarts).toBe(1)
    expect(s.get('preview_started_total{provider="bore",auth_mode="none"}')).toBe(1)
    expect(s.has('preview_started_total{provider="cloudflared",auth_mode="token"}')).toBe(false)
    expect(s.get('preview_stopped_total{reason="operator"}')).toBe(0)
  })

  it('starts over when the file is replaced by another one', async () => {
    await appendAudit(paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
    const reader = new MetricsReader(paths)
    await reader.refresh()
    const other = `${paths.audit}.new`
    const line = (id: string) => JSON.stringify({auth_mode: 'basic', event: 'start', preview_id: id, provider: 'ssh'}) + '\n'
    writeFileSync(other, line('p-0000000a') + line('p-0000000b'))
    renameSync(other, paths.audit)
    const s = samples(await reader.exposition())
    expect(reader.restarts).toBe(1)
    expect(s.get('preview_started_total{provider="ssh",auth_mode="basic"}')).toBe(2)
    expect(s.has('preview_started_total{provider="local",auth_mode="token"}')).toBe(false)
  })

  it('skips lines that are not JSON objects', async () => {
    mkdirSync(paths.auditDir, {recursive: true})
    appendFileSync(paths.audit, 'garbage\n[1]\n')
    await appendAudit(paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
    const reader = new MetricsReader(paths)
    const s = samples(await reader.exposition())
    expect(reader.skipped).toBe(2)
    expect(s.get('preview_started_total{provider="local",auth_mode="token"}')).toBe(1)
  })
})

describe('serveMetrics', () => {
  it('serves /metrics on loopback with the 0.0.4 content type and follows the log', async () => {
    const server = await serveMetrics({host: '127.0.0.1', paths, port: 0})
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      let res = await fetch(`${server.url}/metrics`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
      expect(samples(await res.text()).get('preview_active')).toBe(0)
      await appendAudit(paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
      res = await fetch(`${server.url}/metrics`)
      expect(samples(await res.text()).get('preview_started_total{provider="local",auth_mode="token"}')).toBe(1)
      expect((await fetch(`${server.url}/`)).status).toBe(404)
      expect((await fetch(`${server.url}/metrics`, {method: 'POST'})).status).toBe(405)
    } finally {
      await server.close()
    }
  })

  it('says which port is taken', async () => {
    const first = await serveMetrics({paths, port: 0})
    try {
      const port = Number(new URL(first.url).port)
      await expect(serveMetrics({paths, port})).rejects.toMatchObject({code: 'METRICS_LISTEN_FAILED'})
    } finally {
      await first.close()
    }
  })
})
