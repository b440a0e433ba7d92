// `preview serve` as a user meets it: one repository of two branches, signed names, on-demand starts, two refs at
// once, idle stop and wake, auto-pull, the status JSON and dashboard, and SIGTERM leaving nothing behind.
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {signName, signature} from '../../src/core/host/names.js'
import {runCli} from '../helpers/cli.js'
import {alive, pidsInside, waitFor} from '../helpers/proc.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'
import {request, startServe, type ServeProcess} from '../helpers/serve.js'

const SECRET = 'test-secret-0123456789abcdef'
const ADMIN = 'admin-secret-abcdef'
const auth = {authorization: `Bearer ${ADMIN}`}

describe('preview serve (single repository, signed names)', () => {
  let repo: TempRepo
  let host: ServeProcess
  const main = () => `${signName(SECRET, 'main')}.localhost`
  const feature = () => `${signName(SECRET, 'feature-x')}.localhost`
  const status = async () =>
    JSON.parse((await request(host.port, 'localhost', '/-/preview.json', {headers: auth})).body) as {
      sub_servers: any[]
      running_servers: number
      idle_ttl_seconds: number
      status: string
    }
  const sub = async (name: string) => (await status()).sub_servers.find((s) => s.name === name)

  beforeAll(async () => {
    repo = makeRepo({body: 'hello from main'})
    git(repo.dir, 'checkout', '-q', '-b', 'feature/x')
    repo.write('body.txt', 'hello from feature')
    repo.commit('feature')
    git(repo.dir, 'checkout', '-q', 'main')
    // `node server.js` straight (npm's start-up would dominate the timings); from preview.yaml, as a user sets it.
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node server.js\nserve:\n  idle_ttl: 3s\n')
    host = await startServe(
      ['.', '--secret', SECRET, '--admin-secret', ADMIN, '--auto-pull', '1s', '--json-logs', path.join(repo.dir, '.sdd', 'serve.jsonl')],
      {cwd: repo.dir},
    )
  })

  afterAll(async () => {
    await host?.stop()
    repo.cleanup()
  })

  it('serves only correctly signed names: unsigned and wrongly signed are 403', async () => {
    expect((await request(host.port, 'main.localhost')).status).toBe(403)
    expect((await request(host.port, `main--${signature('another-secret-000000', 'main')}.localhost`)).status).toBe(403)
    expect((await request(host.port, `main--${signature(SECRET, 'feature-x')}.localhost`)).status).toBe(403)
    expect((await status()).sub_servers).toEqual([]) // nothing was started for them
  })

  it('the first request waits for the on-demand start; the next one does not', async () => {
    const first = await request(host.port, main())
    expect(first.status).toBe(200)
    expect(first.body).toMatch(/^hello from main host=localhost:\d+ pid=\d+/)
    const second = await request(host.port, main())
    expect(second.body).toBe(first.body) // the same dev server
    expect(second.ms).toBeLessThan(first.ms)
    const s = await sub('main')
    expect(s).toMatchObject({command: 'node server.js', label: null, ref: 'main', restart_attempts: 0, status: 'running'})
    expect(s.commit).toBe(git(repo.dir, 'rev-parse', 'main'))
    expect(alive(s.pid)).toBe(true)
    // The dev server saw its own address as Host on the very first request too (it arrived before the port was known).
    expect(first.body).toContain(`host=localhost:${s.port} `)
  })

  it('requests that arrive during a start wait for the same start', async () => {
    const replies = await Promise.all([1, 2, 3].map(() => request(host.port, feature())))
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200])
    expect(new Set(replies.map((r) => r.body)).size).toBe(1)
    expect(replies[0]!.body).toMatch(/^hello from feature/)
  })

  it('serves two refs at once, each from its own dev server', async () => {
    const [a, b] = await Promise.all([request(host.port, main()), request(host.port, feature())])
    expect(a.body).toMatch(/^hello from main/)
    expect(b.body).toMatch(/^hello from feature/)
    const st = await status()
    expect(st.running_servers).toBe(2)
    expect(st.sub_servers.map((s) => s.ref).sort()).toEqual(['feature/x', 'main'])
  })

  it('status JSON and dashboard show the refs and recent requests; both need the admin secret', async () => {
    expect((await request(host.port, 'localhost', '/-/preview.json')).status).toBe(401)
    expect((await request(host.port, 'localhost', '/-/preview.json', {headers: {authorization: 'Bearer wrong'}})).status).toBe(401)
    const st = await status()
    expect(Object.keys(st).sort()).toEqual(['idle_ttl_seconds', 'running_servers', 'status', 'sub_servers'])
    expect(st.idle_ttl_seconds).toBe(3)
    const s = st.sub_servers.find((x) => x.name === 'main')
    expect(Object.keys(s).sort()).toEqual(
      [
        'command',
        'commit',
        'label',
        'last_request_seconds_ago',
        'name',
        'pid',
        'port',
        'recent_logs',
        'recent_requests',
        'ref',
        'restart_attempts',
        'seconds_until_idle',
        'status',
        'uptime_seconds',
      ].sort(),
    )
    expect(s.recent_requests.length).toBeGreaterThanOrEqual(2)
    expect(s.recent_requests[0]).toMatchObject({
      bytes: expect.any(Number),
      duration_ms: expect.any(Number),
      method: 'GET',
      path: '/',
      status: 200,
    })
    expect(s.recent_logs.some((l: string) => l.includes('Server listening on'))).toBe(true)
    const page = await request(host.port, 'localhost', '/-/preview', {headers: auth})
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toMatch(/text\/html/)
    expect(page.body).toContain('feature/x')
    expect(page.body).toMatch(/<td>GET<\/td><td>\/<\/td><td>200<\/td>/)
    expect(page.body).toContain(`href="http://${signName(SECRET, 'main')}.localhost:${host.port}/"`) // links that open
    // The request log names hosts without their signatures (a signed name lets its holder run code here).
    const log = readFileSync(path.join(repo.dir, '.sdd', 'serve.jsonl'), 'utf8')
    expect(log).toContain('"host":"main--<sig>.localhost"')
    expect(log).not.toContain(signature(SECRET, 'main'))
    const metrics = await request(host.port, 'localhost', '/-/preview/metrics', {headers: auth})
    expect(metrics.body).toMatch(/preview_serve_starts_total\{label="default"\} 2/)
    expect(metrics.body).toMatch(/preview_serve_requests_total\{code="4xx",label="default"\} [3-9]/)
  })

  it('a browser asking for a preview that is not up gets an auto-refreshing "starting" page, then the app', async () => {
    const sha = git(repo.dir, 'rev-parse', '--short=8', 'feature/x')
    const name = `${signName(SECRET, sha)}.localhost`
    const accept = {accept: 'text/html,application/xhtml+xml,*/*;q=0.8'}
    const first = await request(host.port, name, '/', {headers: accept})
    expect(first.status).toBe(503)
    expect(first.headers.refresh).toBe('1')
    expect(first.body).toContain(`Starting ${sha}`)
    expect(await waitFor(async () => (await request(host.port, name, '/', {headers: accept})).status === 200, 20_000)).toBe(true)
    expect((await request(host.port, name, '/', {headers: accept})).body).toMatch(/^hello from feature/)
    expect((await sub(sha)).ref).toBe(git(repo.dir, 'rev-parse', 'feature/x'))
  })

  it('an idle preview stops after the TTL and wakes on the next request', async () => {
    const before = await sub('feature-x')
    expect(await waitFor(async () => (await sub('feature-x')).status === 'idle', 15_000)).toBe(true)
    expect(await waitFor(() => !alive(before.pid), 5000)).toBe(true)
    const woken = await request(host.port, feature())
    expect(woken.status).toBe(200)
    expect(woken.body).toMatch(/^hello from feature/)
    const after = await sub('feature-x')
    expect(after.status).toBe('running')
    expect(after.pid).not.toBe(before.pid)
    expect((await request(host.port, 'localhost', '/-/preview/metrics', {headers: auth})).body).toMatch(
      /preview_serve_wakeups_total\{label="default"\} [1-9]/,
    )
  })

  it('with --auto-pull, a branch not requested for a while serves its new commit', async () => {
    expect((await request(host.port, main())).body).toMatch(/^hello from main/)
    repo.write('body.txt', 'hello from main, second commit')
    const tip = repo.commit('second')
    await new Promise((r) => setTimeout(r, 1200))
    const reply = await request(host.port, main())
    expect(reply.body).toMatch(/^hello from main, second commit/)
    expect((await sub('main')).commit).toBe(tip)
  })

  it('SIGTERM stops every dev server it started and leaves no process', async () => {
    const pids = (await status()).sub_servers.map((s) => s.pid).filter(Boolean)
    expect(pids.length).toBeGreaterThan(0)
    // Twice, as an impatient operator or systemd might: the second must not cut the shutdown short.
    host.child.kill('SIGTERM')
    host.child.kill('SIGTERM')
    expect(await host.stop()).toBe(0)
    for (const pid of pids) expect(alive(pid)).toBe(false)
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })
})

describe('preview sign', () => {
  it('prints the signed name the host serves; a name with "/" is refused with the DNS form', async () => {
    const ok = await runCli(['sign', 'app--main', '--secret', SECRET], {cwd: process.cwd()})
    expect(ok.code).toBe(0)
    expect(ok.stdout.trim()).toBe(signName(SECRET, 'app--main'))
    const bad = await runCli(['sign', 'feature/x', '--secret', SECRET], {cwd: process.cwd()})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('feature-x')
  })
})
