// `--provider caddy` against a real Caddy (Debian's caddy on loopback ports): routes by host name that follow the previews.
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {CaddyAdmin, addRoute, caddyRoute, removeRoute} from '../../src/core/tunnels/drivers/caddy.js'
import {json, runCli} from '../helpers/cli.js'
import {
  adaptCaddyfile,
  docsBlock,
  startCaddy,
  tokenOf,
  viaEdge,
  visitLink,
  WS_ECHO,
  writeConfig,
  wsEchoViaEdge,
  type Caddy,
} from '../helpers/edge.js'
import {alive, pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const START = ['start', '--provider', 'caddy', '--auth', 'token', '--cwd', '.', '--command', `node ${WS_ECHO}`, '--json']

describe('--provider caddy: a route per preview in a running Caddy', () => {
  let caddy: Caddy
  let repo: TempRepo
  const sdd = () => path.join(repo.dir, '.sdd')
  const routeOf = (id: string) => caddy.api('GET', `/id/preview-${id}`)
  const routes = async () => ((await caddy.api('GET', '/config/apps/http/servers/edge/routes')).json ?? []) as Array<Record<string, any>>

  beforeAll(async () => {
    caddy = await startCaddy()
    repo = makeRepo()
    writeConfig(sdd(), {providers: {caddy: {admin_url: caddy.adminUrl, url_template: `http://{id}.preview.localhost:${caddy.httpPort}`}}})
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    await caddy.stop()
    repo.cleanup()
    rmSync(caddy.dir, {force: true, recursive: true})
  })

  it('a token link through Caddy by host name: 401 without the token, 200 with it, a WebSocket echo; stop removes the route', async () => {
    const start = await runCli(START, {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const id = row.preview_id
    expect(row.tunnel_provider).toBe('caddy')
    expect(row.public_url).toBe(`http://${id}.preview.localhost:${caddy.httpPort}`)
    expect(row.tunnel_name).toBe(`preview-${id}`)
    // The route: found by its @id, matching the host, proxying to the gateway with streaming on.
    const route = await routeOf(id)
    expect(route.status).toBe(200)
    expect(route.json.match).toEqual([{host: [`${id}.preview.localhost`]}])
    expect(route.json.handle[0]).toMatchObject({
      flush_interval: -1,
      handler: 'reverse_proxy',
      upstreams: [{dial: `127.0.0.1:${row.gateway_port}`}],
    })

    const bare = await viaEdge(caddy.httpPort, `${row.public_url}/`)
    expect(bare.status).toBe(401)
    const {first, page, cookie} = await visitLink(caddy.httpPort, row.share_url)
    expect(first.status).toBe(302)
    expect(page.status).toBe(200)
    expect(page.body).toContain('hello from the app')
    expect(page.body).toContain(`host=`)
    expect(await wsEchoViaEdge(caddy.httpPort, `${row.public_url}/ws`, {cookie}, 'through caddy')).toBe('echo:through caddy')
    // Another preview's host name does not reach this one.
    expect(
      (
        await viaEdge(caddy.httpPort, `http://p-00000000.preview.localhost:${caddy.httpPort}/`, {
          authorization: `Bearer ${tokenOf(row.share_url)}`,
        })
      ).body,
    ).not.toContain('hello')

    const stop = await runCli(['stop', id], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    expect((await routeOf(id)).status).toBe(404)
    expect(await routes()).toEqual([])
  })

  it('Caddy restarted empty: the route is back within 10 s and serves the same link', async () => {
    const start = await runCli(START, {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    await caddy.restart()
    const restartedAt = Date.now()
    expect(await waitFor(async () => (await routeOf(row.preview_id)).status === 200, 10_000)).toBe(true)
    expect(Date.now() - restartedAt).toBeLessThan(10_000)
    // Caddy came back from its file without the route: the supervisor saw it missing and added it again.
    expect(readFileSync(row.log_file, 'utf8')).toContain(`route preview-${row.preview_id} was missing`)
    const page = await viaEdge(caddy.httpPort, `${row.public_url}/`, {authorization: `Bearer ${tokenOf(row.share_url)}`})
    expect(page.status).toBe(200)
    expect(page.body).toContain('hello from the app')
    // Put back once, not piled up.
    expect((await routes()).filter((r) => r['@id'] === `preview-${row.preview_id}`)).toHaveLength(1)
    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
    expect((await routeOf(row.preview_id)).status).toBe(404)
  })

  it('kill -9 of the supervisor: `preview stop` removes the route the supervisor could not', async () => {
    const start = await runCli(START, {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect((await routeOf(row.preview_id)).status).toBe(200)
    process.kill(row.supervisor_pid, 'SIGKILL')
    expect(await waitFor(() => !alive(row.supervisor_pid), 5000)).toBe(true)
    const stop = await runCli(['stop', row.preview_id], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    expect((await routeOf(row.preview_id)).status).toBe(404)
    expect(await routes()).toEqual([])
  })

  it('its row gone from state.json (reset by hand): the supervisor stops by itself and takes its route along', async () => {
    const start = await runCli(START, {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect((await routeOf(row.preview_id)).status).toBe(200)
    writeFileSync(path.join(sdd(), 'runtime', 'preview', 'state.json'), JSON.stringify({previews: [], version: 1}))
    expect(await waitFor(() => !alive(row.supervisor_pid), 10_000)).toBe(true)
    expect((await routeOf(row.preview_id)).status).toBe(404)
  })

  it('a start that fails after the route was added rolls it back: no route, no row, no process', async () => {
    // The audit log cannot be written (a directory where the file should be): the start fails at its last step.
    const audit = path.join(sdd(), 'audit', 'preview.jsonl')
    rmSync(audit, {force: true})
    mkdirSync(audit, {recursive: true})
    try {
      const start = await runCli(START, {cwd: repo.dir})
      expect(start.code).toBe(1)
      expect(json(start).error.message).toMatch(/EISDIR|directory/i)
      // It did get as far as Caddy: the preview's log shows the route added, then removed by the rollback.
      const logs = path.join(sdd(), 'runtime', 'preview', 'logs')
      const failed = readdirSync(logs)
        .map((f) => readFileSync(path.join(logs, f), 'utf8'))
        .find((t) => t.includes('start failed'))
      expect(failed).toMatch(/route preview-p-[0-9a-f]{8} added[\s\S]*start failed[\s\S]*route preview-p-[0-9a-f]{8} removed/)
      expect(await routes()).toEqual([])
      expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
      expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    } finally {
      rmSync(audit, {force: true, recursive: true})
    }
  })

  it('an admin API that refuses: the start fails in Caddy’s words, exit 1, nothing left', async () => {
    const strict = await startCaddy({admin: {origins: ['caddy.internal:2019']}})
    const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-sdd-'))
    try {
      writeConfig(dir, {providers: {caddy: {admin_url: strict.adminUrl, url_template: `http://{id}.preview.localhost:${strict.httpPort}`}}})
      const start = await runCli(START, {cwd: repo.dir, env: {PREVIEW_SDD_DIR: dir}})
      expect(start.code).toBe(1)
      const {error} = json(start)
      expect(error.code).toBe('TUNNEL_FAILED')
      expect(error.message).toContain(`host not allowed: 127.0.0.1:${new URL(strict.adminUrl).port}`)
      expect(json(await runCli(['list', '--json'], {cwd: repo.dir, env: {PREVIEW_SDD_DIR: dir}}))).toEqual([])
      expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    } finally {
      await strict.stop()
      rmSync(dir, {force: true, recursive: true})
      rmSync(strict.dir, {force: true, recursive: true})
    }
  })

  it('bad settings: no url_template is bad input (exit 2), an unknown server fails naming the ones Caddy has; nothing left', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-sdd-'))
    try {
      writeConfig(dir, {providers: {caddy: {admin_url: caddy.adminUrl}}})
      const missing = await runCli(START, {cwd: repo.dir, env: {PREVIEW_SDD_DIR: dir}})
      expect(missing.code).toBe(2)
      expect(json(missing).error.message).toContain('providers.caddy.url_template')
      writeConfig(dir, {providers: {caddy: {admin_url: caddy.adminUrl, server: 'nope', url_template: 'http://{id}.preview.localhost'}}})
      const unknown = await runCli(START, {cwd: repo.dir, env: {PREVIEW_SDD_DIR: dir}})
      expect(unknown.code).toBe(1)
      expect(json(unknown).error.message).toContain('Caddy has no HTTP server named "nope" (it has: edge)')
      expect(await routes()).toEqual([])
      expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})

describe('--provider caddy behind a catch-all route', () => {
  it('inserts the preview route before a catch-all that would answer first, and removes only its own', async () => {
    const catchAll = {'@id': 'operator-404', handle: [{body: 'no such preview', handler: 'static_response', status_code: 404}]}
    const caddy = await startCaddy({server: {routes: [catchAll]}})
    const repo = makeRepo()
    try {
      writeConfig(path.join(repo.dir, '.sdd'), {
        providers: {caddy: {admin_url: caddy.adminUrl, url_template: `http://{id}.preview.localhost:${caddy.httpPort}`}},
      })
      const start = await runCli(START, {cwd: repo.dir})
      expect(start.code, start.stderr).toBe(0)
      const row = json(start)
      const list = (await caddy.api('GET', '/config/apps/http/servers/edge/routes')).json
      expect(list.map((r: any) => r['@id'])).toEqual([`preview-${row.preview_id}`, 'operator-404'])
      const page = await viaEdge(caddy.httpPort, `${row.public_url}/`, {authorization: `Bearer ${tokenOf(row.share_url)}`})
      expect(page.status).toBe(200)
      expect((await viaEdge(caddy.httpPort, `http://other.preview.localhost:${caddy.httpPort}/`)).body).toBe('no such preview')
      expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
      expect((await caddy.api('GET', '/config/apps/http/servers/edge/routes')).json).toEqual([catchAll])
    } finally {
      await runCli(['stop', '--all'], {cwd: repo.dir})
      await caddy.stop()
      repo.cleanup()
      rmSync(caddy.dir, {force: true, recursive: true})
    }
  })
})

describe('--provider caddy behind the Caddyfile of docs/edge.md', () => {
  it('a wildcard site block that answers every name: the preview route goes first and serves; other names get the 404', async () => {
    // The docs' site block as a test can run it: plain HTTP on a loopback name, no certificate files.
    const caddyfile = docsBlock('docs/edge.md', '### Caddyfile for the dynamic edge')
      .replace(/^\{[\s\S]*?^\}\n/m, '')
      .replace(/^\s*tls .*\n/m, '')
      .replace('*.preview.example.com {', 'http://*.preview.localhost {')
    const routesFromDocs = adaptCaddyfile(caddyfile).apps.http.servers.srv0.routes
    const caddy = await startCaddy({server: {routes: routesFromDocs}})
    const repo = makeRepo()
    try {
      writeConfig(path.join(repo.dir, '.sdd'), {
        providers: {caddy: {admin_url: caddy.adminUrl, url_template: `http://{id}.preview.localhost:${caddy.httpPort}`}},
      })
      const start = await runCli(START, {cwd: repo.dir})
      expect(start.code, start.stderr).toBe(0)
      const row = json(start)
      const page = await viaEdge(caddy.httpPort, `${row.public_url}/`, {authorization: `Bearer ${tokenOf(row.share_url)}`})
      expect([page.status, page.body]).toEqual([200, expect.stringContaining('hello from the app')])
      const other = await viaEdge(caddy.httpPort, `http://p-00000000.preview.localhost:${caddy.httpPort}/`)
      expect([other.status, other.body]).toEqual([404, 'No such preview'])
      expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
      expect((await caddy.api('GET', '/config/apps/http/servers/edge/routes')).json).toEqual(routesFromDocs)
    } finally {
      await runCli(['stop', '--all'], {cwd: repo.dir})
      await caddy.stop()
      repo.cleanup()
      rmSync(caddy.dir, {force: true, recursive: true})
    }
  })
})

describe('many hosts, one Caddy', () => {
  it('removals in flight at once take exactly their own routes (Caddy resolves /id/ to an index outside its lock)', async () => {
    const caddy = await startCaddy()
    try {
      const admin = new CaddyAdmin(caddy.adminUrl)
      const ids = Array.from({length: 40}, (_, i) => `preview-p-${String(i).padStart(8, '0')}`)
      await Promise.all(
        ids.map((id) => addRoute(admin, null, caddyRoute(id, `${id}.preview.localhost`, '127.0.0.1:1'), `${id}.preview.localhost`)),
      )
      const list = async () =>
        (((await caddy.api('GET', '/config/apps/http/servers/edge/routes')).json ?? []) as Array<Record<string, any>>).map((r) => r['@id'])
      expect((await list()).sort()).toEqual(ids)
      const [gone, kept] = [ids.filter((_, i) => i % 2 === 0), ids.filter((_, i) => i % 2 === 1)]
      expect(await Promise.all(gone.map((id) => removeRoute(admin, id)))).toEqual(gone.map(() => 1))
      expect((await list()).sort()).toEqual(kept)
    } finally {
      await caddy.stop()
      rmSync(caddy.dir, {force: true, recursive: true})
    }
  })

  it('two hosts (gateways on 127.0.0.2 and 127.0.0.3) register 10 previews at once: 10 routes, all answering; one host stopping leaves the other served', async () => {
    const caddy = await startCaddy()
    const repo = makeRepo()
    const hosts = ['127.0.0.2', '127.0.0.3'].map((bind) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), `preview-host-${bind}-`))
      writeConfig(dir, {
        gateway: {bind},
        providers: {caddy: {admin_url: caddy.adminUrl, url_template: `http://{id}.preview.localhost:${caddy.httpPort}`}},
      })
      return {bind, env: {PREVIEW_SDD_DIR: dir}, sdd: dir}
    })
    try {
      const starts = await Promise.all(
        Array.from({length: 10}, (_, i) =>
          runCli(START, {cwd: repo.dir, env: hosts[i % 2]!.env, timeoutMs: 120_000}).then((r) => ({host: hosts[i % 2]!, r})),
        ),
      )
      for (const {r} of starts) expect(r.code, r.stderr + r.stdout).toBe(0)
      const rows = starts.map(({host, r}) => ({host, row: json(r)}))
      const list = (await caddy.api('GET', '/config/apps/http/servers/edge/routes')).json as Array<Record<string, any>>
      expect(list.map((r) => r['@id']).sort()).toEqual(rows.map(({row}) => `preview-${row.preview_id}`).sort())
      for (const {host, row} of rows) {
        const route = list.find((r) => r['@id'] === `preview-${row.preview_id}`)!
        expect(route.handle[0].upstreams).toEqual([{dial: `${host.bind}:${row.gateway_port}`}])
      }

      const answer = (row: any) => viaEdge(caddy.httpPort, `${row.public_url}/who`, {authorization: `Bearer ${tokenOf(row.share_url)}`})
      const pages = await Promise.all(rows.map(({row}) => answer(row)))
      for (const page of pages) expect([page.status, page.body]).toEqual([200, expect.stringContaining('path=/who')])
      // A token is for its own preview only, whichever host serves the other.
      expect(
        (await viaEdge(caddy.httpPort, `${rows[0]!.row.public_url}/`, {authorization: `Bearer ${tokenOf(rows[1]!.row.share_url)}`})).status,
      ).toBe(401)

      const stopA = await runCli(['stop', '--all'], {cwd: repo.dir, env: hosts[0]!.env})
      expect(stopA.code, stopA.stderr).toBe(0)
      const left = (await caddy.api('GET', '/config/apps/http/servers/edge/routes')).json as Array<Record<string, any>>
      const fromB = rows.filter(({host}) => host === hosts[1])
      expect(left.map((r) => r['@id']).sort()).toEqual(fromB.map(({row}) => `preview-${row.preview_id}`).sort())
      for (const {row} of fromB) expect((await answer(row)).status).toBe(200)
    } finally {
      for (const host of hosts) await runCli(['stop', '--all'], {cwd: repo.dir, env: host.env})
      await caddy.stop()
      repo.cleanup()
      for (const host of hosts) rmSync(host.sdd, {force: true, recursive: true})
      rmSync(caddy.dir, {force: true, recursive: true})
    }
  }, 180_000)
})
