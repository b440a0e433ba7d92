// The supervisor's state machine: every move of the table (legal and illegal), then the real supervisor driven
// through the events that move it (real dev server processes, a real gateway on loopback, the local tunnel).
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {freePort} from '../../src/core/netprobe.js'
import {loadJwtKey, mintCredential} from '../../src/core/records/credentials.js'
import {sddPaths} from '../../src/core/records/paths.js'
import {readState} from '../../src/core/records/state.js'
import {IllegalTransition, PREVIEW_STATES, StateMachine, type PreviewState} from '../../src/core/supervisor/state.js'
import {Supervisor, type SupervisorSpec} from '../../src/core/supervisor/supervisor.js'
import {alive, pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

// Written out here rather than read from the table, so a changed table fails this test.
const LEGAL = new Set([
  'starting>running',
  'starting>stopping',
  'starting>stopped',
  'running>idle',
  'running>restarting',
  'running>stopping',
  'running>stopped',
  'idle>restarting',
  'idle>stopping',
  'restarting>running',
  'restarting>idle',
  'restarting>stopping',
  'restarting>stopped',
  'stopping>stopped',
  'stopped>starting',
])

describe('state table', () => {
  for (const from of PREVIEW_STATES) {
    for (const to of PREVIEW_STATES) {
      const legal = LEGAL.has(`${from}>${to}`)
      it(`${from} -> ${to} is ${legal ? 'legal' : 'illegal'}`, () => {
        const machine = new StateMachine('preview t', from)
        const seen: string[] = []
        machine.observe((a, b) => seen.push(`${a}>${b}`))
        if (legal) {
          machine.to(to)
          expect(machine.current).toBe(to)
          expect(seen).toEqual([`${from}>${to}`])
        } else {
          let error: unknown
          try {
            machine.to(to)
          } catch (error_) {
            error = error_
          }

          expect(error).toBeInstanceOf(IllegalTransition)
          expect((error as Error).message).toContain(`preview t: illegal state transition ${from} -> ${to}`)
          expect(machine.current).toBe(from) // an illegal move changes nothing
          expect(seen).toEqual([])
        }
      })
    }
  }
})

// A server that prints its address, exits with 3 on /crash, and (with DELAY_MS) listens only after a while.
const APP = `
const http = require('http')
setTimeout(() => {
  http.createServer((q, s) => { if (q.url === '/crash') { s.end('bye'); setTimeout(() => process.exit(3), 20); return } s.end('up ' + process.pid) })
    .listen(process.env.PORT, '127.0.0.1', () => console.log('Local: http://localhost:' + process.env.PORT))
}, Number(process.env.DELAY_MS || 0))
if (process.env.EXIT_AFTER_MS) setTimeout(() => process.exit(1), Number(process.env.EXIT_AFTER_MS))
if (process.env.IGNORE_TERM) process.on('SIGTERM', () => console.log('ignoring SIGTERM'))
`

describe('the supervisor driven through its events', () => {
  let repo: TempRepo
  let n = 0
  beforeAll(() => {
    repo = makeRepo()
    repo.write('app.js', APP)
    repo.commit('app')
  })
  const running: Supervisor[] = []
  afterEach(async () => {
    // A failed assertion must not leave dev servers for the next test's "nothing left" checks.
    await Promise.all(running.splice(0).map((s) => s.stop('operator')))
  })
  afterAll(() => repo.cleanup())

  async function supervisor(opts: {env?: Record<string, string>; idleTtlMs?: number; maxRestarts?: number} = {}) {
    const sddDir = path.join(repo.dir, '.sdd')
    const now = Math.floor(Date.now() / 1000)
    const spec: SupervisorSpec = {
      authMode: 'none',
      command: 'node app.js',
      createdAtEpoch: now,
      cwd: repo.dir,
      env: {...(process.env as Record<string, string>), PREVIEW_PROBE_TIMEOUT_MS: '0', ...opts.env},
      expiresAtEpoch: now + 3600,
      id: `state-test-${++n}`,
      idleTtlMs: opts.idleTtlMs ?? null,
      install: null,
      maxRestarts: opts.maxRestarts ?? 3,
      port: await freePort(),
      provider: 'local',
      providers: {},
      readyTimeoutMs: 10_000,
      sandboxBackend: 'cwd',
      sandboxSessionId: null,
      sddDir,
    }
    const credential = mintCredential({
      authMode: 'none',
      expiresAtEpoch: spec.expiresAtEpoch,
      key: loadJwtKey(sddPaths(sddDir)),
      previewId: spec.id,
    })
    const sup = new Supervisor(spec, () => {}, credential)
    running.push(sup)
    const moves: string[] = []
    sup.watchState((from, to) => moves.push(`${from}>${to}`))
    return {moves, spec, sup}
  }

  const rowOf = (id: string) => readState(sddPaths(path.join(repo.dir, '.sdd'))).previews.find((r) => r.preview_id === id)
  const audit = (id: string) =>
    readFileSync(path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.preview_id === id)
  const get = async (url: string) => (await fetch(url)).text()
  const is = (sup: Supervisor, state: PreviewState) => () => sup.current === state

  it('a dev server exit: running -> restarting -> running, a new process serves', async () => {
    const {moves, spec, sup} = await supervisor()
    const ready = await sup.start()
    const url = ready.row.public_url!
    const first = await get(url)
    expect(first).toMatch(/^up \d+$/)
    await get(new URL('/crash', url).href)
    expect(await waitFor(() => moves.includes('restarting>running'), 10_000)).toBe(true)
    expect(moves).toEqual(['starting>running', 'running>restarting', 'restarting>running'])
    const second = await get(url)
    expect(second).toMatch(/^up \d+$/)
    expect(second).not.toBe(first)
    expect(rowOf(spec.id)?.restarts).toBe(1)
    await sup.stop('operator')
    expect(sup.current).toBe('stopped')
    expect(pidsInside(repo.dir)).toEqual([])
  })

  it('idle -> wake: the dev server is stopped after the TTL, a request starts it again and gets the page', async () => {
    const {moves, spec, sup} = await supervisor({idleTtlMs: 300})
    const ready = await sup.start()
    const pid = rowOf(spec.id)!.process_pid!
    expect(await waitFor(is(sup, 'idle'), 5000)).toBe(true)
    expect(await waitFor(() => !alive(pid), 5000)).toBe(true)
    expect(await waitFor(() => rowOf(spec.id)?.status === 'idle', 5000)).toBe(true)
    expect(rowOf(spec.id)?.process_pid).toBeNull()
    expect(await get(ready.row.public_url!)).toMatch(/^up \d+$/)
    expect(moves.slice(0, 4)).toEqual(['starting>running', 'running>idle', 'idle>restarting', 'restarting>running'])
    await sup.stop('operator')
    expect(pidsInside(repo.dir)).toEqual([])
  })

  it('stop during starting: the start fails, nothing is left, no row', async () => {
    const {moves, spec, sup} = await supervisor({env: {DELAY_MS: '5000'}})
    const start = sup.start()
    start.catch(() => {})
    expect(await waitFor(() => pidsInside(repo.dir).length > 0, 5000)).toBe(true)
    await sup.stop('operator')
    await expect(start).rejects.toThrow(/exited|stopped/)
    expect(sup.current).toBe('stopped')
    expect(moves).toEqual(['starting>stopping', 'stopping>stopped'])
    expect(rowOf(spec.id)).toBeUndefined()
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    expect(audit(spec.id)).toEqual([]) // never started, so no stop to balance
  })

  it('stop during restarting: no new dev server, the stop is audited', async () => {
    const {moves, spec, sup} = await supervisor()
    const ready = await sup.start()
    await get(new URL('/crash', ready.row.public_url!).href)
    expect(await waitFor(is(sup, 'restarting'), 5000)).toBe(true)
    await sup.stop('operator')
    expect(moves).toEqual(['starting>running', 'running>restarting', 'restarting>stopping', 'stopping>stopped'])
    // The backoff ends after the stop: it must not start anything.
    await new Promise((r) => setTimeout(r, 800))
    expect(pidsInside(repo.dir)).toEqual([])
    expect(audit(spec.id).map((e) => [e.event, e.reason])).toEqual([
      ['start', undefined],
      ['stop', 'operator'],
    ])
  })

  it('stop while a restart waits for the old dev server to die: no new dev server is started after the stop', async () => {
    // The old server ignores SIGTERM, so the restart waits (up to 1 s) before its SIGKILL; the stop lands then.
    const {sup} = await supervisor({env: {IGNORE_TERM: '1'}})
    await sup.start()
    const restart = sup.restartDevServer().catch(() => {})
    await new Promise((r) => setTimeout(r, 200))
    await sup.stop('operator')
    await restart
    await new Promise((r) => setTimeout(r, 1500)) // past the restart's kill wait: it must not spawn anything now
    expect(pidsInside(repo.dir)).toEqual([])
  })

  it('3 crashes with max 2 restarts: restarting twice, then stopping -> stopped with reason crash', async () => {
    const {moves, spec, sup} = await supervisor({env: {EXIT_AFTER_MS: '1500'}, maxRestarts: 2}) // long enough to be up first, on a loaded machine too
    await sup.start()
    await Promise.race([sup.done, new Promise((r) => setTimeout(r, 20_000))])
    expect(sup.current).toBe('stopped')
    expect(moves).toEqual([
      'starting>running',
      'running>restarting',
      'restarting>running',
      'running>restarting',
      'restarting>running',
      'running>stopping',
      'stopping>stopped',
    ])
    expect(audit(spec.id).map((e) => e.event)).toEqual(['start', 'restart', 'restart', 'stop'])
    expect(audit(spec.id).at(-1)!.reason).toBe('crash')
    expect(rowOf(spec.id)).toBeUndefined()
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })
})
