// The whole loop as a user runs it: bin/run.js as a process against a real repo, worktree, server and sockets.
import {existsSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {alive, pidsInside, portOpen, waitFor} from '../helpers/proc.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'

describe('preview start | list | status | stop (local provider)', () => {
  let repo: TempRepo
  let firstSession = ''
  beforeAll(() => {
    // The dev script leaves a grandchild (sleep) behind the server, as watchers and bundlers do.
    repo = makeRepo({devScript: 'sleep 300 & node server.js'})
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('starts in a fresh worktree, serves the app, lists it, and stop leaves nothing behind', async () => {
    const start = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect(row.preview_id).toMatch(/^p-[0-9a-f]{8}$/)
    expect(row.status).toBe('running')
    expect(row.sandbox_backend).toBe('worktree')
    firstSession = row.sandbox_session_id
    expect(path.dirname(row.cwd)).toBe(path.join(repo.dir, '.sdd', 'worktrees'))
    expect(existsSync(path.join(row.cwd, 'server.js'))).toBe(true)
    expect(readFileSync(path.join(repo.dir, '.git', 'info', 'exclude'), 'utf8')).toContain('.sdd/')

    const page = await fetch(row.public_url)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('hello from the app')

    const state = path.join(repo.dir, '.sdd', 'runtime', 'preview', 'state.json')
    expect(statSync(state).mode & 0o777).toBe(0o600)

    const list = await runCli(['list', '--json'], {cwd: repo.dir})
    expect(list.code).toBe(0)
    expect(json(list).map((r: {preview_id: string}) => r.preview_id)).toEqual([row.preview_id])
    const status = await runCli(['status', row.preview_id, '--json'], {cwd: repo.dir})
    expect(status.code).toBe(0)
    expect(json(status)).toMatchObject({port: row.port, preview_id: row.preview_id, status: 'running'})

    const inside = pidsInside(row.cwd)
    expect(inside.length).toBeGreaterThanOrEqual(2) // server and the sleeping grandchild
    const stop = await runCli(['stop', row.preview_id], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    expect(stop.stdout).toContain(`Stopped ${row.preview_id}`)

    expect(await waitFor(() => pidsInside(row.cwd).length === 0, 5000)).toBe(true)
    expect(alive(row.supervisor_pid)).toBe(false)
    expect(await portOpen(row.port)).toBe(false)
    expect(await portOpen(row.gateway_port)).toBe(false)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
    const gone = await runCli(['status', row.preview_id], {cwd: repo.dir})
    expect(gone.code).toBe(2)
    expect(gone.stderr).toContain(`No preview with id ${row.preview_id}`)

    const audit = readFileSync(path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(audit.map((e) => [e.event, e.preview_id])).toEqual([
      ['start', row.preview_id],
      ['stop', row.preview_id],
    ])
    expect(audit[1].reason).toBe('operator')
    expect(audit[1].prev).toBe(audit[0].mac)
  })

  it('prints the human banner and reuses the newest worktree', async () => {
    const start = await runCli(['start', '--provider', 'local', '--auth', 'token', '--expire', '30m', '--qr'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const lines = start.stdout.trim().split('\n')
    // --qr: a QR code of the link after the banner, in plain block characters (NO_COLOR is set here).
    const qr = lines.slice(4)
    expect(qr.length).toBeGreaterThan(10)
    expect(qr.every((l) => /^[ █▀▄]*$/.test(l))).toBe(true)
    expect(lines[0]).toMatch(/^Started preview p-[0-9a-f]{8} \(local -> localhost:\d+\)$/)
    expect(lines[1]).toMatch(/^URL: http:\/\/127\.0\.0\.1:\d+\/\?token=ey/)
    expect(lines[2]).toMatch(/^auth=token sandbox=worktree\/preview-head expires_epoch=\d+ \(in 30m\)$/) // --expire 30m: the time left, readable
    // No --cwd, no agent worktree: HEAD, in preview's own worktree (the one the first start made, reset to HEAD).
    expect(lines[2]).toContain(`sandbox=worktree/${firstSession}`)
    expect(lines[3]).toBe(
      `Serving main@${git(repo.dir, 'rev-parse', '--short=7', 'HEAD')} from .sdd/worktrees/preview-head (preview's worktree at HEAD)`,
    )
    expect(start.stdout).not.toContain('clipboard') // CI and no TTY: no clipboard
    const id = /p-[0-9a-f]{8}/.exec(lines[0]!)![0]

    // The link is enforced: without it 401; with it a cookie and a redirect to the URL without the token.
    const shareUrl = lines[1]!.slice(5)
    const publicUrl = new URL(shareUrl).origin + '/'
    expect((await fetch(publicUrl)).status).toBe(401)
    const first = await fetch(shareUrl, {redirect: 'manual'})
    expect([302, 303]).toContain(first.status)
    expect(first.headers.get('location')).not.toContain('token=')
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!
    const page = await fetch(publicUrl, {headers: {cookie}})
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('hello from the app')

    const listed = await runCli(['list'], {cwd: repo.dir})
    expect(listed.stdout).toMatch(new RegExp(`^ID\\s+STATUS\\s+PROVIDER`))
    expect(listed.stdout).toContain(id)
    const status = json(await runCli(['status', id, '--json'], {cwd: repo.dir}))
    expect(status.share_url).toContain('token=***')
    expect(status.share_url).not.toContain('ey')
    const secret = json(await runCli(['status', id, '--json', '--show-secrets'], {cwd: repo.dir}))
    expect(secret.share_url).toBe(lines[1]!.slice(5))

    const stop = await runCli(['stop', '--all', '--json'], {cwd: repo.dir})
    expect(json(stop)).toEqual([{cleaned_up: false, preview_id: id, reason: 'operator', stopped: true}])
  })
})

describe('bad input and rollback', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(() => repo.cleanup())

  it.each([
    [['--expire', 'abc'], /Invalid --expire "abc"/],
    [['--expire', '0s'], /longer than zero/],
    [['--expire', '2d'], /longer than the maximum of 24h/],
    [['--provider', 'nope'], /Unknown provider "nope"/],
    [['--auth', 'secret'], /Unknown auth mode "secret"/],
    [['--cwd', '/nonexistent/dir'], /does not exist/],
  ])('start %j exits 2 and starts nothing', async (args, message) => {
    const provider = args.includes('--provider') ? [] : ['--provider', 'local']
    const res = await runCli(['start', ...provider, ...args], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(message)
    expect(existsSync(path.join(repo.dir, '.sdd', 'worktrees'))).toBe(false)
    // The supervisor spawned ahead of time for this start leaves with the CLI.
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })

  it('not a git repository: exit 2', async () => {
    const res = await runCli(['start', '--provider', 'local'], {cwd: '/tmp'})
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/not inside a git repository/)
  })

  it('nothing to run: exit 2 naming what was searched, worktree rolled back', async () => {
    const bare = makeRepo({devScript: null})
    try {
      const res = await runCli(['start', '--provider', 'local'], {cwd: bare.dir})
      expect(res.code).toBe(2)
      expect(res.stderr).toMatch(/Nothing to run/)
      expect(res.stderr).toMatch(/package\.json/)
      expect(res.stderr).toMatch(/Procfile/)
      const list = await runCli(['start', '--list-commands', '--json'], {cwd: bare.dir})
      expect(json(list).candidates).toEqual([])
    } finally {
      bare.cleanup()
    }
  })

  it('a dev server that dies before it is ready: exit 1 with its last log lines, no row, no process', async () => {
    const res = await runCli(
      ['start', '--provider', 'local', '--cwd', '.', '--command', 'echo booting; echo "fatal: missing config" >&2; exit 3'],
      {cwd: repo.dir},
    )
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/exited \(code 3\) before it was ready/)
    expect(res.stderr).toContain('fatal: missing config')
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
  })

  it('a dev server that never becomes ready: exit 1 after --ready-timeout, nothing left running', async () => {
    const res = await runCli(
      ['start', '--provider', 'local', '--cwd', '.', '--ready-timeout', '2s', '--command', 'echo waiting forever; sleep 60'],
      {cwd: repo.dir},
    )
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/did not become ready within 2s/)
    expect(res.stderr).toContain('waiting forever')
    // The supervisor reports the failure, then exits: give it a moment, bounded.
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
  })

  it('stop of an unknown id exits 2', async () => {
    const res = await runCli(['stop', 'p-00000000'], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/No preview with id p-00000000/)
  })
})

describe('--foreground', () => {
  it('runs the supervisor in the CLI process until Ctrl-C, then tears everything down', async () => {
    const repo = makeRepo()
    try {
      const {spawn} = await import('node:child_process')
      const {BIN} = await import('../helpers/cli.js')
      const child = spawn(
        process.execPath,
        [BIN, 'start', '--foreground', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--command', 'node server.js'],
        {
          cwd: repo.dir,
          env: {...process.env, CI: 'true'},
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
      expect(await waitFor(() => /URL: (\S+)/.test(out), 20_000)).toBe(true)
      const url = /URL: (\S+)/.exec(out)![1]!
      expect(await (await fetch(url)).text()).toContain('hello from the app')
      const row = json(await runCli(['list', '--json'], {cwd: repo.dir}))[0]
      expect(row.supervisor_pid).toBe(child.pid)
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(pidsInside(repo.dir)).toEqual([])
      expect(await portOpen(row.port)).toBe(false)
      expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
    } finally {
      repo.cleanup()
    }
  })
})

describe('an interrupted start', () => {
  it('Ctrl-C while the dev server boots rolls everything back: no row, no process, a consistent audit', async () => {
    const repo = makeRepo()
    try {
      repo.write(
        'slow.js',
        `setTimeout(() => require('http').createServer((q, s) => s.end('late')).listen(process.env.PORT, '127.0.0.1', () => console.log('Local: http://localhost:' + process.env.PORT)), 3000)`,
      )
      repo.commit('slow server')
      const {spawn} = await import('node:child_process')
      const {BIN} = await import('../helpers/cli.js')
      const child = spawn(process.execPath, [BIN, 'start', '--provider', 'local', '--cwd', '.', '--command', 'node slow.js'], {
        cwd: repo.dir,
        env: {...process.env, CI: 'true'},
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let err = ''
      child.stderr.on('data', (d: Buffer) => (err += d.toString()))
      expect(await waitFor(() => err.includes('dev server:'), 15_000)).toBe(true) // the dev server is booting
      child.kill('SIGINT')
      await new Promise((resolve) => child.on('close', resolve))
      expect(await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)).toBe(true)
      expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
      const audit = path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl')
      expect(existsSync(audit) ? readFileSync(audit, 'utf8') : '').toBe('') // no start was recorded, so no stop is owed
    } finally {
      repo.cleanup()
    }
  })
})
