// A real Prometheus scrapes a real `preview metrics --serve` process and answers queries over the audit log.
import {mkdirSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {appendAudit} from '../../src/core/records/audit.js'
import {killGroup, spawnGroup} from '../../src/core/process.js'
import {buildDist, haveBinary, ROOT, tempSdd} from './audit-fixtures.js'

const POLL_MS = 500
const QUERY_DEADLINE_MS = 30_000
const SERVE_DEADLINE_MS = 20_000

const sdd = tempSdd()
let dist = ''
let missing = ''
const cleanups: Array<() => Promise<void> | void> = [() => sdd.cleanup()]

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address() as {port: number}
      srv.close(() => resolve(port))
    })
  })
}

/** Waits (bounded) until `pred` holds for what `probe` returns; returns the last value either way. */
async function pollUntil<T>(probe: () => Promise<T>, pred: (v: T) => boolean, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs
  let last = await probe()
  while (!pred(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, POLL_MS))
    last = await probe()
  }

  return last
}

beforeAll(async () => {
  if (!(await haveBinary('prometheus'))) missing = 'prometheus'
  if (missing && process.env.CI) throw new Error('prometheus is missing (Debian package prometheus); CI must install it')
  if (!missing) dist = await buildDist()
}, 120_000)

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

describe('Prometheus scraping `preview metrics --serve`', () => {
  it('answers sum(preview_started_total) from the audit log, and follows appends', async (ctx) => {
    if (missing) ctx.skip(`${missing} not installed: apt-get install prometheus`)

    await appendAudit(sdd.paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'cloudflared'})
    await appendAudit(sdd.paths, {auth_mode: 'basic', event: 'start', preview_id: 'p-00000002', provider: 'local'})
    await appendAudit(sdd.paths, {auth_mode: 'token', event: 'link', preview_id: 'p-00000001'})
    await appendAudit(sdd.paths, {auth_mode: 'none', event: 'start', preview_id: 'p-00000003', provider: 'local'})
    await appendAudit(sdd.paths, {event: 'stop', preview_id: 'p-00000001', reason: 'operator'})

    // The command, in its own process, exactly as an operator runs it (port 0: the OS picks a free one).
    const script = `const {default: Metrics} = await import(${JSON.stringify(path.join(dist, 'commands', 'metrics.js'))})
await Metrics.run(['--serve', '--port', '0'], ${JSON.stringify(ROOT)})`
    const serve = spawnGroup(process.execPath, ['--input-type=module', '-e', script], {
      cwd: sdd.dir,
      env: {...process.env, PREVIEW_SDD_DIR: sdd.paths.root},
    })
    const serveExit = new Promise<number | null>((resolve) => serve.once('exit', (code) => resolve(code)))
    cleanups.push(() => killGroup(serve.pid, {graceMs: 1000}))
    let serveErr = ''
    serve.stderr?.on('data', (d: Buffer) => {
      serveErr += d.toString()
    })
    const target = await pollUntil(
      async () => /Serving Prometheus metrics at http:\/\/(127\.0\.0\.1:\d+)\/metrics/.exec(serveErr)?.[1] ?? '',
      (t) => t !== '',
      SERVE_DEADLINE_MS,
    )
    expect(target, `preview metrics --serve did not start: ${serveErr}`).not.toBe('')

    const promDir = path.join(sdd.dir, 'prometheus')
    mkdirSync(promDir)
    const config = path.join(promDir, 'prometheus.yml')
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: preview',
        '    scrape_interval: 1s',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    )
    const promPort = await freePort()
    const prom = spawnGroup(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      {cwd: promDir, env: process.env},
    )
    cleanups.push(() => killGroup(prom.pid, {graceMs: 3000}))
    let promErr = ''
    prom.stderr?.on('data', (d: Buffer) => {
      promErr = (promErr + d.toString()).slice(-4000)
    })
    prom.stdout?.resume()

    const query = async (q: string): Promise<number | null> => {
      try {
        const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)
        const body = (await res.json()) as {data?: {result?: Array<{value: [number, string]}>}}
        const value = body.data?.result?.[0]?.value[1]
        return value === undefined ? null : Number(value)
      } catch {
        return null // not up yet
      }
    }

    const started = await pollUntil(
      () => query('sum(preview_started_total)'),
      (v) => v === 3,
      QUERY_DEADLINE_MS,
    )
    expect(started, `prometheus stderr:\n${promErr}\nserve stderr:\n${serveErr}`).toBe(3)
    expect(await query('sum(preview_link_issued_total)')).toBe(4)
    expect(await query('preview_active')).toBe(2)

    // Appends after the first scrapes show up on the next ones.
    await appendAudit(sdd.paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000004', provider: 'bore'})
    expect(
      await pollUntil(
        () => query('sum(preview_started_total)'),
        (v) => v === 4,
        QUERY_DEADLINE_MS,
      ),
    ).toBe(4)
    expect(await query('preview_started_total{provider="bore",auth_mode="token"}')).toBe(1)

    // SIGTERM ends the server cleanly: the command returns and the process exits 0.
    serve.kill('SIGTERM')
    const code = await Promise.race([serveExit, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))])
    expect(code).toBe(0)
  }, 90_000)
})
