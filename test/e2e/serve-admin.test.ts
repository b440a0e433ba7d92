// `preview serve` with labels and the admin API: a served clone (its branches on the remote), unknown refs fetched
// once before a 404, pause → 503 → resume, add/remove, admin calls refused without the secret, --persist-repos
// across a restart, and --basic-auth on every route.
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {alive, pidsInside, waitFor} from '../helpers/proc.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'
import {request, startServe, type ServeProcess} from '../helpers/serve.js'

const ADMIN = 'admin-secret-for-tests'
const bearer = {authorization: `Bearer ${ADMIN}`}
const post = (port: number, action: string, body: unknown, headers: Record<string, string> = bearer) =>
  request(port, 'localhost', `/-/preview/repos/${action}`, {
    body: JSON.stringify(body),
    headers: {'content-type': 'application/json', ...headers},
    method: 'POST',
  })

function useNodeServer(dir: string): void {
  mkdirSync(path.join(dir, '.sdd'), {recursive: true})
  writeFileSync(path.join(dir, '.sdd', 'preview.yaml'), 'command: node server.js\n')
}

describe('preview serve (labels, admin API)', () => {
  let origin: TempRepo
  let docs: TempRepo
  let served: string
  let persist: string
  let host: ServeProcess

  beforeAll(async () => {
    origin = makeRepo({body: 'app main'})
    git(origin.dir, 'checkout', '-q', '-b', 'feature/x')
    origin.write('body.txt', 'app feature')
    origin.commit('feature')
    git(origin.dir, 'checkout', '-q', 'main')
    served = `${origin.dir}-clone`
    git(path.dirname(origin.dir), 'clone', '-q', origin.dir, served)
    useNodeServer(served)
    docs = makeRepo({body: 'docs main'})
    useNodeServer(docs.dir)
    persist = path.join(served, '.sdd', 'repos.json')
    host = await startServe(
      [`app=${served}`, '--admin-secret', ADMIN, '--persist-repos', persist, '--json-logs', path.join(served, '.sdd', 'serve.jsonl')],
      {cwd: served},
    )
  })

  afterAll(async () => {
    await host?.stop()
    for (const pid of pidsInside(served)) process.kill(pid, 'SIGKILL')
    rmSync(served, {force: true, recursive: true})
    origin.cleanup()
    docs.cleanup()
  })

  it('<label> serves the default branch, <label>--<ref> a branch the clone has only on its remote', async () => {
    expect((await request(host.port, 'app.localhost')).body).toMatch(/^app main/)
    expect((await request(host.port, 'app--feature-x.localhost')).body).toMatch(/^app feature/)
    expect((await request(host.port, 'web.localhost')).status).toBe(404)
  })

  it('an unknown ref is fetched once before a 404', async () => {
    git(origin.dir, 'checkout', '-q', '-b', 'late')
    origin.write('body.txt', 'app late')
    origin.commit('late')
    git(origin.dir, 'checkout', '-q', 'main')
    const late = await request(host.port, 'app--late.localhost')
    expect(late.status).toBe(200)
    expect(late.body).toMatch(/^app late/)
    const missing = await request(host.port, 'app--nope.localhost')
    expect(missing.status).toBe(404)
    expect(missing.body).toContain('No branch, tag or commit "nope"')
  })

  it('a ref whose dev server cannot start answers 502 with the reason and its last log lines', async () => {
    git(origin.dir, 'checkout', '-q', '-b', 'broken')
    origin.write('server.js', "console.error('boom: missing config'); process.exit(3)\n")
    origin.commit('broken')
    git(origin.dir, 'checkout', '-q', 'main')
    const reply = await request(host.port, 'app--broken.localhost')
    expect(reply.status).toBe(502)
    expect(reply.body).toContain('exited (code 3) before it was ready')
    expect(reply.body).toContain('boom: missing config')
    expect(pidsInside(`${served}/.sdd/worktrees/host-app--broken`)).toEqual([])
  })

  it('admin calls without the secret are refused and change nothing', async () => {
    expect((await post(host.port, 'pause', {label: 'app'}, {})).status).toBe(401)
    expect((await post(host.port, 'pause', {label: 'app'}, {authorization: 'Bearer nope'})).status).toBe(401)
    expect((await request(host.port, 'localhost', '/-/preview/repos')).status).toBe(401)
    // A cross-site page cannot drive the API through a browser holding credentials either.
    expect((await post(host.port, 'pause', {label: 'app'}, {...bearer, origin: 'http://evil.test'})).status).toBe(403)
    expect((await request(host.port, 'app.localhost')).status).toBe(200)
  })

  it('pause makes the label answer 503 and stops its dev servers; resume serves again', async () => {
    const before = JSON.parse((await request(host.port, 'localhost', '/-/preview.json', {headers: bearer})).body)
    const pids = before.sub_servers.filter((s: any) => s.label === 'app').map((s: any) => s.pid)
    expect(pids.length).toBeGreaterThan(0)
    const paused = await post(host.port, 'pause', {label: 'app'})
    expect(paused.status).toBe(200)
    expect(JSON.parse(paused.body).repos[0]).toMatchObject({label: 'app', paused: true})
    expect((await request(host.port, 'app.localhost')).status).toBe(503)
    expect((await request(host.port, 'app--feature-x.localhost')).status).toBe(503)
    expect(await waitFor(() => pids.every((p: number) => !alive(p)), 10_000)).toBe(true)
    expect((await post(host.port, 'resume', {label: 'app'})).status).toBe(200)
    const back = await request(host.port, 'app.localhost')
    expect(back.status).toBe(200)
    expect(back.body).toMatch(/^app main/)
    // --json-logs: one JSON line per request and lifecycle event
    const lines = readFileSync(path.join(served, '.sdd', 'serve.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines.some((l) => l.event === 'request' && l.host === 'app.localhost' && l.status === 503)).toBe(true)
    expect(lines.some((l) => l.event === 'start' && l.name === 'app--feature-x' && l.ref === 'feature/x')).toBe(true)
    expect(lines.map((l) => l.event)).toEqual(expect.arrayContaining(['repo-pause', 'repo-resume', 'fetch']))
  })

  it('add and remove a repository at run time; the list is kept in --persist-repos', async () => {
    expect((await post(host.port, 'add', {label: 'docs', path: docs.dir})).status).toBe(200)
    expect((await request(host.port, 'docs.localhost')).body).toMatch(/^docs main/)
    const repos = JSON.parse((await request(host.port, 'localhost', '/-/preview/repos', {headers: bearer})).body).repos
    expect(repos.map((r: any) => r.label)).toEqual(['app', 'docs'])
    expect(JSON.parse(readFileSync(persist, 'utf8')).repos.map((r: any) => r.label)).toEqual(['app', 'docs'])
    expect((await post(host.port, 'add', {label: 'docs', path: docs.dir})).status).toBe(400)
    expect((await post(host.port, 'add', {label: 'bad--label', path: docs.dir})).status).toBe(400)
    expect((await post(host.port, 'remove', {label: 'docs'})).status).toBe(200)
    expect((await request(host.port, 'docs.localhost')).status).toBe(404)
    expect(await waitFor(() => pidsInside(docs.dir).length === 0, 10_000)).toBe(true)
    // Added again and paused: a restart with only app on the command line brings docs back, still paused.
    expect((await post(host.port, 'add', {label: 'docs', path: docs.dir})).status).toBe(200)
    expect((await post(host.port, 'pause', {label: 'docs'})).status).toBe(200)
    expect(await host.stop()).toBe(0)
    expect(pidsInside(served)).toEqual([])
    host = await startServe([`app=${served}`, '--persist-repos', persist, '--basic-auth', 'preview:pw-for-tests'], {cwd: served})
    const basic = {authorization: `Basic ${Buffer.from('preview:pw-for-tests').toString('base64')}`}
    const listed = JSON.parse((await request(host.port, 'localhost', '/-/preview/repos', {headers: basic})).body).repos
    expect(listed.map((r: any) => [r.label, r.paused])).toEqual([
      ['app', false],
      ['docs', true],
    ])
    expect((await request(host.port, 'docs.localhost', '/', {headers: basic})).status).toBe(503)
  })

  it('--basic-auth protects every route and the admin API', async () => {
    const basic = {authorization: `Basic ${Buffer.from('preview:pw-for-tests').toString('base64')}`}
    expect((await request(host.port, 'app.localhost')).status).toBe(401)
    expect(
      (
        await request(host.port, 'app.localhost', '/', {
          headers: {authorization: `Basic ${Buffer.from('preview:wrong').toString('base64')}`},
        })
      ).status,
    ).toBe(401)
    const ok = await request(host.port, 'app.localhost', '/', {headers: basic})
    expect(ok.status).toBe(200)
    expect(ok.body).toMatch(/^app main/)
    expect((await request(host.port, 'localhost', '/-/preview.json')).status).toBe(401)
    expect((await request(host.port, 'localhost', '/-/preview.json', {headers: basic})).status).toBe(200)
    expect(existsSync(persist)).toBe(true)
  })

  it('--basic-auth takes the user given: that user and password, not `preview` with the same password', async () => {
    expect(await host.stop()).toBe(0)
    host = await startServe([`app=${served}`, '--basic-auth', 'reviewer:pw-of-the-team'], {cwd: served})
    const as = (cred: string) => ({authorization: `Basic ${Buffer.from(cred).toString('base64')}`})
    const ok = await request(host.port, 'app.localhost', '/', {headers: as('reviewer:pw-of-the-team')})
    expect([ok.status, ok.body]).toEqual([200, expect.stringMatching(/^app main/)])
    expect((await request(host.port, 'app.localhost', '/', {headers: as('preview:pw-of-the-team')})).status).toBe(401)
    expect((await request(host.port, 'app.localhost', '/', {headers: as('reviewer:wrong')})).status).toBe(401)
    expect((await request(host.port, 'localhost', '/-/preview.json', {headers: as('reviewer:pw-of-the-team')})).status).toBe(200)
  })
})
