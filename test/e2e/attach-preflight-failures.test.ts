// Issue 12, continued: --attach to a server that already runs, tunnel checks before anything starts, failed
// starts you can follow (id and kept log), and previews that ended in `list --all`.
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {alive, pidsInside, portOpen, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const SYSTEM_PATH = [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')

/** A free loopback port (closed again). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const {port} = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

describe('--attach PORT: share a server that already runs', () => {
  let repo: TempRepo
  let server: ChildProcess
  let port: number
  beforeAll(async () => {
    repo = makeRepo()
    port = await freePort()
    // Someone else's server, started outside preview (not inside the repo: pidsInside must not see it).
    server = spawn(
      process.execPath,
      ['-e', `require('http').createServer((q, s) => s.end('outside server ' + q.url)).listen(${port}, '127.0.0.1')`],
      {cwd: '/', stdio: 'ignore'},
    )
    expect(await waitFor(() => portOpen(port), 10_000)).toBe(true)
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    server.kill('SIGKILL')
    repo.cleanup()
  })

  it('fronts it with the same gateway and links; stop leaves it running', async () => {
    const res = await runCli(['start', '--attach', String(port), '--provider', 'local', '--auth', 'token', '--json'], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    const row = json(res)
    expect(row).toMatchObject({branch: null, commit: null, port, process_pid: null, sandbox_backend: 'attached'})
    expect(row.gateway_port).not.toBe(port)
    expect((await fetch(row.public_url)).status).toBe(401) // the gateway checks the link
    const token = new URL(row.share_url).searchParams.get('token')
    const viaGateway = await fetch(new URL('/hello', row.public_url), {headers: {authorization: `Bearer ${token}`}})
    expect(await viaGateway.text()).toBe('outside server /hello')
    const human = await runCli(['list'], {cwd: repo.dir})
    expect(human.stdout).toMatch(new RegExp(`${row.preview_id}.*attached`))
    const restart = await runCli(['restart', row.preview_id], {cwd: repo.dir})
    expect(restart.code).toBe(2)
    expect(restart.stderr).toContain('nothing to restart')

    const stop = await runCli(['stop', row.preview_id], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    expect(await waitFor(async () => !(await portOpen(row.gateway_port)), 5000)).toBe(true)
    expect(alive(server.pid!)).toBe(true)
    expect(await portOpen(port)).toBe(true)
  })

  it('says what it serves in the human output', async () => {
    const res = await runCli(['start', '--attach', String(port), '--provider', 'local', '--auth', 'none'], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toContain(`Serving from the server on 127.0.0.1:${port}`)
    await runCli(['stop', '--all'], {cwd: repo.dir})
    expect(alive(server.pid!)).toBe(true)
  })

  it.each([
    [['--ref', 'main'], '--ref'],
    [['--command', 'node server.js'], '--command'],
    [['--idle-ttl', '1m'], '--idle-ttl'],
    [['--working-copy'], '--working-copy'],
  ])('with %j: exit 2, nothing started', async (extra, flag) => {
    const res = await runCli(['start', '--attach', String(port), '--provider', 'local', ...extra], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(res.stderr).toContain(`--attach does not go with ${flag}`)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
  })

  it('nothing listening on PORT: exit 2', async () => {
    const closed = await freePort()
    const res = await runCli(['start', '--attach', String(closed), '--provider', 'local', '--json'], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(json(res).error.message).toContain(`Nothing listens on 127.0.0.1:${closed}`)
    expect((await runCli(['start', '--attach', 'http', '--provider', 'local'], {cwd: repo.dir})).code).toBe(2)
  })
})

describe('the tunnel is checked before anything starts', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(() => repo.cleanup())

  it('ssh without providers.ssh.destination: exit 2 at once with the provider’s hint; no worktree, no dev server', async () => {
    const res = await runCli(['start', '--provider', 'ssh'], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(res.stderr).toContain('providers.ssh.destination')
    expect(res.stderr).not.toMatch(/dev server:/) // no progress past the checks
    expect(existsSync(path.join(repo.dir, '.sdd', 'worktrees'))).toBe(false)
    expect(existsSync(path.join(repo.dir, '.sdd', 'runtime', 'preview', 'logs'))).toBe(false)
    // The supervisor spawned ahead of time for this start leaves with the CLI.
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })

  it('a provider whose binary is missing: exit 1 at once with its install hint; no worktree', async () => {
    const res = await runCli(['start', '--provider', 'bore', '--json'], {cwd: repo.dir, env: {BORE_BIN: '', PATH: SYSTEM_PATH}})
    expect(res.code).toBe(1)
    const {error} = json(res)
    expect(error.code).toBe('TUNNEL_FAILED')
    expect(error.message).toMatch(/bore not found on PATH/)
    expect(existsSync(path.join(repo.dir, '.sdd', 'worktrees'))).toBe(false)
  })
})

describe('failures you can follow', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('a failed start prints its id and kept log; --json carries preview_id and log_file; the hint names no removed worktree', async () => {
    const human = await runCli(['start', '--provider', 'local', '--ref', 'main', '--command', 'echo "boom: no database"; exit 3'], {
      cwd: repo.dir,
    })
    expect(human.code).toBe(1)
    const m = /Preview (p-[0-9a-f]{8}) did not start; its log is kept at (\S+) /.exec(human.stderr)
    expect(m, human.stderr).not.toBeNull()
    expect(existsSync(m![2]!)).toBe(true)
    const logs = await runCli(['logs', m![1]!], {cwd: repo.dir})
    expect(logs.code).toBe(0)
    expect(logs.stdout).toContain('boom: no database')

    const res = await runCli(['start', '--provider', 'local', '--ref', 'main', '--command', 'exit 3', '--json'], {cwd: repo.dir})
    expect(res.code).toBe(1)
    const {error} = json(res)
    expect(error.preview_id).toMatch(/^p-[0-9a-f]{8}$/)
    expect(existsSync(error.log_file)).toBe(true)
    expect(error.hint).not.toMatch(/in the worktree to see why/)
    expect(error.hint).toContain('removed with the rollback')
    // The --ref worktree is gone, as the hint says.
    const worktrees = path.join(repo.dir, '.sdd', 'worktrees')
    expect(existsSync(worktrees) ? readdirSync(worktrees) : []).toEqual([])
  })

  it('bad input before anything starts has no preview id', async () => {
    const res = await runCli(['start', '--provider', 'local', '--expire', 'abc', '--json'], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(json(res).error.preview_id).toBeUndefined()
  })

  it('list --all shows previews that ended (expiry, operator) with stop_reason and when; plain list points at it', async () => {
    const start = async (...args: string[]) =>
      json(await runCli(['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--json', ...args], {cwd: repo.dir}))
    const short = await start('--expire', '2s')
    const kept = await start()
    await runCli(['stop', kept.preview_id], {cwd: repo.dir})
    expect(await waitFor(async () => json(await runCli(['list', '--json'], {cwd: repo.dir})).length === 0, 15_000)).toBe(true)

    const all = json(await runCli(['list', '--all', '--json'], {cwd: repo.dir}))
    const byId = new Map(all.map((e: {preview_id: string}) => [e.preview_id, e]))
    expect(byId.get(short.preview_id)).toMatchObject({status: 'ended', stop_reason: 'expiry', tunnel_provider: 'local'})
    expect(byId.get(kept.preview_id)).toMatchObject({status: 'ended', stop_reason: 'operator'})
    const ended = byId.get(short.preview_id) as {ended_at_epoch: number; ended_at: string}
    expect(Math.abs(ended.ended_at_epoch - Date.now() / 1000)).toBeLessThan(60)
    expect(Date.parse(ended.ended_at)).toBeGreaterThan(0)

    const human = await runCli(['list', '--all'], {cwd: repo.dir})
    expect(human.stdout).toMatch(new RegExp(`${short.preview_id}\\s+ended\\s+expiry`))
    const plain = await runCli(['list'], {cwd: repo.dir})
    expect(plain.stdout).toContain('1 preview ended in the last 24 h (1 by expiry): `preview list --all` shows them.')
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([]) // --json without --all: live rows only
  })
})
