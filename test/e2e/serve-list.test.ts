// A served repository as its other commands see it: `preview list` shows the host's previews marked `serve`,
// `preview cleanup` leaves their worktrees alone, a second host for it is refused, and the dev servers of a host
// killed with SIGKILL are stopped by the next host.
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {alive, pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo, SERVER_JS, type TempRepo} from '../helpers/repo.js'
import {request, startServe, type ServeProcess} from '../helpers/serve.js'

describe('preview serve and the other commands', () => {
  let repo: TempRepo
  let host: ServeProcess

  beforeAll(async () => {
    // A dev server that takes 1 s to exit on SIGTERM, so a second signal to the host lands mid-shutdown.
    const slowExit = `${SERVER_JS}\nprocess.on('SIGTERM', () => setTimeout(() => process.exit(0), 1000))\n`
    repo = makeRepo({files: {'body.txt': 'listed', 'package.json': '{"name":"app","private":true}', 'server.js': slowExit}})
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node server.js\n')
    host = await startServe(['.'], {cwd: repo.dir})
  })

  afterAll(async () => {
    await host?.stop()
    repo.cleanup()
  })

  it('preview list shows the host previews, marked as served', async () => {
    expect((await request(host.port, 'main.localhost')).body).toMatch(/^listed/)
    const rows = json(await runCli(['list', '--json'], {cwd: repo.dir}))
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      preview_id: 'serve:main',
      ref: 'main',
      sandbox_session_id: 'host-main',
      status: 'running',
      tunnel_provider: 'serve',
    })
    expect(rows[0].public_url).toBe(`http://main.localhost:${host.port}/`)
    expect(rows[0].served_by.url).toBe(`http://127.0.0.1:${host.port}`)
    expect(alive(rows[0].process_pid)).toBe(true)
    const human = await runCli(['list'], {cwd: repo.dir})
    expect(human.stdout).toMatch(/serve:main\s+running\s+serve/)
  })

  it('preview cleanup leaves the worktree of a served preview alone', async () => {
    const plan = json(await runCli(['cleanup', '--dry-run', '--json'], {cwd: repo.dir}))
    const listed = JSON.stringify(plan)
    expect(listed).not.toContain('host-main')
  })

  it('bad input is refused with exit 2 and a reason, nothing started', async () => {
    const missing = await runCli(['serve', '/no/such/repo', '--port', '0'], {cwd: repo.dir, timeoutMs: 20_000})
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('/no/such/repo does not exist')
    const ttl = await runCli(['serve', '.', '--port', '0', '--idle-ttl', 'soon'], {cwd: repo.dir, timeoutMs: 20_000})
    expect(ttl.code).toBe(2)
    expect(ttl.stderr).toContain('--idle-ttl')
  })

  it('a second host for the same repository is refused (exit 2)', async () => {
    const second = await runCli(['serve', '.', '--port', '0'], {cwd: repo.dir, timeoutMs: 20_000})
    expect(second.code).toBe(2)
    expect(second.stderr).toContain('already served by preview serve')
  })

  it('the dev servers of a host killed with SIGKILL are stopped by the next host; behind https; a second SIGTERM mid-shutdown still exits cleanly', async () => {
    const orphan = json(await runCli(['list', '--json'], {cwd: repo.dir}))[0].process_pid as number
    host.child.kill('SIGKILL')
    await new Promise((r) => host.child.once('exit', r))
    expect(alive(orphan)).toBe(true) // its own process group: SIGKILL of the host cannot take it along
    host = await startServe(['.', '--public-scheme', 'https'], {cwd: repo.dir})
    expect(alive(orphan)).toBe(false)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
    // Behind a TLS proxy: the URLs printed are https, and the app's own POSTs (Origin https://<name>) pass.
    expect(host.stdout()).toContain('repository: https://main.localhost/')
    const post = (origin: string) =>
      request(host.port, 'main.localhost', '/', {body: 'x', headers: {'content-type': 'text/plain', origin}, method: 'POST'})
    expect((await post('https://main.localhost')).status).toBe(200)
    expect((await post('http://evil.test')).status).toBe(403)
    // Stopped twice, the second signal mid-shutdown (an impatient operator, systemd): still a clean exit.
    host.child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 300))
    expect(await host.stop()).toBe(0)
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })
})
