// Supervision as a user meets it: crash restarts, expiry, idle scale-to-zero, kill -9, parallel starts.
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {alive, pidsInside, portOpen, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const readAudit = (repo: TempRepo) =>
  readFileSync(path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('supervision', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
    // A server that serves, then exits after 0.7 s: every run of it crashes.
    repo.write(
      'crashy.js',
      `require('http').createServer((q,s)=>s.end('up')).listen(process.env.PORT,'127.0.0.1',()=>console.log('Local: http://localhost:'+process.env.PORT)); setTimeout(()=>process.exit(1),3000)`,
    )
    // A server that accepts WebSocket upgrades (the handshake by hand: the temp repo has no node_modules).
    repo.write(
      'wsserver.js',
      `const crypto = require('crypto'); const s = require('http').createServer((q, r) => r.end('ws app'));
s.on('upgrade', (req, socket) => { const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n'); socket.on('error', () => {}) });
s.listen(process.env.PORT, '127.0.0.1', () => console.log('Local: http://localhost:' + process.env.PORT))`,
    )
    repo.commit('crashy')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('a dev server that keeps exiting is restarted 3 times, then the preview stops with reason crash', async () => {
    const start = await runCli(['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--command', 'node crashy.js', '--json'], {
      cwd: repo.dir,
    })
    expect(start.code, start.stderr).toBe(0)
    const {preview_id: id} = json(start)
    expect(await waitFor(() => readAudit(repo).some((e) => e.event === 'stop' && e.preview_id === id), 60_000)).toBe(true)
    const mine = readAudit(repo).filter((e) => e.preview_id === id)
    expect(mine.map((e) => e.event)).toEqual(['start', 'restart', 'restart', 'restart', 'stop'])
    expect(mine.filter((e) => e.event === 'restart').map((e) => e.restarts)).toEqual([1, 2, 3])
    expect(mine.at(-1)!.reason).toBe('crash')
    expect((await runCli(['status', id], {cwd: repo.dir})).code).toBe(2)
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })

  it('--expire 3s ends the preview by itself (reason expiry) and the link dies with it', async () => {
    // `node server.js` rather than `npm run dev`: npm's own start-up would eat into the 3 seconds.
    const start = await runCli(
      ['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--command', 'node server.js', '--expire', '3s', '--json'],
      {cwd: repo.dir},
    )
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect((await fetch(row.public_url)).status).toBe(200)
    expect(await waitFor(() => readAudit(repo).some((e) => e.event === 'stop' && e.preview_id === row.preview_id), 15_000)).toBe(true)
    expect(readAudit(repo).find((e) => e.event === 'stop' && e.preview_id === row.preview_id)!.reason).toBe('expiry')
    expect(await waitFor(async () => !(await portOpen(row.gateway_port)), 5000)).toBe(true)
    expect(await portOpen(row.port)).toBe(false)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
  })

  it('--idle-ttl 2s stops the dev server when idle; the next request wakes it and gets the page', async () => {
    const start = await runCli(['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--idle-ttl', '2s', '--json'], {
      cwd: repo.dir,
    })
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect(await (await fetch(row.public_url)).text()).toContain('hello from the app')
    const firstPid = row.process_pid as number
    expect(
      await waitFor(async () => json(await runCli(['status', row.preview_id, '--json'], {cwd: repo.dir})).status === 'idle', 12_000),
    ).toBe(true)
    expect(alive(firstPid)).toBe(false)
    expect(await portOpen(row.gateway_port)).toBe(true) // the gateway (and tunnel) stay
    const woken = await fetch(row.public_url)
    expect(woken.status).toBe(200)
    expect(await woken.text()).toContain('hello from the app')
    // Read the row straight away: another 2 s without requests would make it idle again.
    const state = JSON.parse(readFileSync(path.join(repo.dir, '.sdd', 'runtime', 'preview', 'state.json'), 'utf8'))
    const after = state.previews.find((r: {preview_id: string}) => r.preview_id === row.preview_id)
    expect(after.status).toBe('running')
    expect(after.process_pid).not.toBe(firstPid)
    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
  })

  it('--idle-ttl: an open WebSocket (HMR) keeps the preview awake; closing it lets it go idle', async () => {
    const start = await runCli(
      ['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--command', 'node wsserver.js', '--idle-ttl', '2s', '--json'],
      {cwd: repo.dir},
    )
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const {default: WebSocket} = await import('ws')
    const socket = new WebSocket(row.public_url.replace('http:', 'ws:') + '/hmr')
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    const status = async () => json(await runCli(['status', row.preview_id, '--json'], {cwd: repo.dir})).status
    await new Promise((r) => setTimeout(r, 4500)) // more than twice the TTL, with the socket quiet
    expect(await status()).toBe('running')
    socket.terminate() // the page goes away (the fixture does not answer close frames)
    expect(await waitFor(async () => (await status()) === 'idle', 12_000)).toBe(true)
    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
  })

  it('kill -9 of the supervisor: list shows crashed, stop kills what is left and removes the row', async () => {
    const start = await runCli(['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--json'], {cwd: repo.dir})
    const row = json(start)
    process.kill(row.supervisor_pid, 'SIGKILL')
    expect(await waitFor(() => !alive(row.supervisor_pid), 5000)).toBe(true)
    const listed = json(await runCli(['list', '--json'], {cwd: repo.dir}))
    expect(listed.map((r: {preview_id: string; status: string}) => [r.preview_id, r.status])).toEqual([[row.preview_id, 'crashed']])
    expect(alive(row.process_pid)).toBe(true) // the orphaned dev server is still there...
    const stop = await runCli(['stop', row.preview_id, '--json'], {cwd: repo.dir})
    expect(json(stop)).toEqual([{cleaned_up: true, preview_id: row.preview_id, reason: 'crash', stopped: true}])
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true) // ...and now it is not
    expect(await portOpen(row.port)).toBe(false)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
    const last = readAudit(repo).at(-1)!
    expect([last.event, last.preview_id, last.reason]).toEqual(['stop', row.preview_id, 'crash'])
  })

  it('8 parallel starts in one repo: 8 rows, distinct ids and ports, an unbroken chain', async () => {
    const before = readAudit(repo).length
    const results = await Promise.all(
      Array.from({length: 8}, () =>
        runCli(['start', '--provider', 'local', '--auth', 'token', '--cwd', '.', '--json'], {cwd: repo.dir, timeoutMs: 120_000}),
      ),
    )
    for (const r of results) expect(r.code, r.stderr).toBe(0)
    const rows = results.map((r) => json(r))
    const listed = json(await runCli(['list', '--json'], {cwd: repo.dir}))
    expect(listed).toHaveLength(8)
    expect(new Set(rows.map((r) => r.preview_id)).size).toBe(8)
    expect(new Set(rows.map((r) => r.port)).size).toBe(8)
    expect(new Set(rows.map((r) => r.gateway_port)).size).toBe(8)
    const audit = readAudit(repo)
    expect(audit.length).toBe(before + 8)
    for (const [i, e] of audit.entries()) {
      expect(e.seq).toBe(i + 1)
      if (i > 0) expect(e.prev).toBe(audit[i - 1]!.mac)
    }

    const stop = await runCli(['stop', '--all', '--json'], {cwd: repo.dir, timeoutMs: 120_000})
    expect(json(stop)).toHaveLength(8)
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)).toBe(true)
  })

  it('a corrupt state.json: a clear error naming the file, nothing overwritten, a backup kept; moving it away recovers', async () => {
    const running = json(
      await runCli(['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--command', 'node server.js', '--json'], {
        cwd: repo.dir,
      }),
    )
    const state = path.join(repo.dir, '.sdd', 'runtime', 'preview', 'state.json')
    const garbage = '{"version":1,"previews":[{"preview_id": "p-1234'
    writeFileSync(state, garbage)
    try {
      const res = await runCli(['list'], {cwd: repo.dir})
      expect(res.code).toBe(1)
      expect(res.stderr).toContain(state)
      expect(res.stderr).toMatch(/copy was kept at .*state\.json\.corrupt-[0-9a-f]{16}/)
      const start = await runCli(['start', '--provider', 'local', '--cwd', '.'], {cwd: repo.dir})
      expect(start.code).toBe(1)
      expect(readFileSync(state, 'utf8')).toBe(garbage)
      // The running preview is untouched by the unreadable file...
      await new Promise((r) => setTimeout(r, 800))
      expect((await fetch(running.public_url)).status).toBe(200)
    } finally {
      // ...and the documented recovery, moving the file away, makes it stop by itself: nothing is orphaned.
      renameSync(state, `${state}.moved-away`)
    }

    expect(await waitFor(() => !alive(running.supervisor_pid) && pidsInside(repo.dir).length === 0, 10_000)).toBe(true)
    expect(await portOpen(running.port)).toBe(false)
    const last = readAudit(repo).at(-1)!
    expect([last.event, last.preview_id]).toEqual(['stop', running.preview_id])
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
  })
})
