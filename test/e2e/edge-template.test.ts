// `--provider template` through the static edges of docs/edge.md, run for real: Debian's nginx and Caddy.
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {
  adaptCaddyfile,
  docsBlock,
  startCaddy,
  startNginx,
  tokenOf,
  viaEdge,
  visitLink,
  WS_ECHO,
  writeConfig,
  wsEchoViaEdge,
  type Nginx,
} from '../helpers/edge.js'
import {pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const START = ['start', '--provider', 'template', '--cwd', '.', '--command', `node ${WS_ECHO}`, '--json']

describe('--provider template behind the nginx config of docs/edge.md', () => {
  let nginx: Nginx
  let repo: TempRepo
  beforeAll(async () => {
    // The docs' block as is, but on a loopback port and without the certificate files.
    const block = docsBlock('docs/edge.md', '### nginx for `--provider template`').replaceAll(/^\s*ssl_.*\n/gm, '')
    nginx = await startNginx(block)
    repo = makeRepo()
    writeConfig(path.join(repo.dir, '.sdd'), {
      gateway: {bind: '127.0.0.2'},
      providers: {template: {url: `http://preview-{port}.preview.example.com:${nginx.port}`}},
    })
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    await nginx.stop()
    repo.cleanup()
    rmSync(nginx.dir, {force: true, recursive: true})
  })

  it('a token link through nginx by host name: 401 without the token, 200 with it, a WebSocket echo; gone after stop', async () => {
    const start = await runCli(START, {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect(row.tunnel_provider).toBe('template')
    expect(row.public_url).toBe(`http://preview-${row.gateway_port}.preview.example.com:${nginx.port}`)
    expect(row.share_url.startsWith(`${row.public_url}/?token=`)).toBe(true)

    const bare = await viaEdge(nginx.port, `${row.public_url}/`)
    expect(bare.status).toBe(401)
    const {first, page, cookie} = await visitLink(nginx.port, row.share_url)
    expect(first.status).toBe(302)
    expect(page.status).toBe(200)
    expect(page.body).toContain('hello from the app')
    expect(await wsEchoViaEdge(nginx.port, `${row.public_url}/ws`, {cookie}, 'through nginx')).toBe('echo:through nginx')
    // The gateway listens on gateway.bind only: nginx reaches 127.0.0.2, loopback's 127.0.0.1 has nothing there.
    const direct = await fetch(`http://127.0.0.1:${row.gateway_port}/`).then(
      () => 'answered',
      () => 'refused',
    )
    expect(direct).toBe('refused')

    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
    expect((await viaEdge(nginx.port, row.share_url)).status).toBe(502)
  })

  it('a URL template without {port} or {id} is bad input: exit 2, the setting named, nothing left', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-sdd-'))
    try {
      writeConfig(dir, {providers: {template: {url: 'https://preview.example.com'}}})
      const start = await runCli(START, {cwd: repo.dir, env: {PREVIEW_SDD_DIR: dir}})
      expect(start.code).toBe(2)
      expect(json(start).error.message).toContain('providers.template.url "https://preview.example.com" has neither {port} nor {id}')
      expect(json(await runCli(['list', '--json'], {cwd: repo.dir, env: {PREVIEW_SDD_DIR: dir}}))).toEqual([])
      expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })

  it('no reachability probe for your own edge (its names are often on private DNS): no warning, no wait for it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-sdd-'))
    const env = {PREVIEW_PROBE_TIMEOUT_MS: '3000', PREVIEW_SDD_DIR: dir}
    try {
      // Nothing listens on 127.0.0.3:<gateway port> (the gateway is on 127.0.0.1): a probe would wait 3 s and warn.
      writeConfig(dir, {providers: {template: {url: 'http://127.0.0.3:{port}'}}})
      const start = await runCli(START, {cwd: repo.dir, env})
      expect(start.code, start.stderr).toBe(0)
      expect(start.stderr).not.toMatch(/Warning/)
      expect((await runCli(['stop', '--all'], {cwd: repo.dir, env})).code).toBe(0)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })

  it('gateway.bind that is not an IP address is bad input (exit 2) naming the setting', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-sdd-'))
    try {
      writeConfig(dir, {gateway: {bind: 'edge.internal'}, providers: {template: {url: 'https://preview-{port}.preview.example.com'}}})
      const start = await runCli(START, {cwd: repo.dir, env: {PREVIEW_SDD_DIR: dir}})
      expect(start.code).toBe(2)
      expect(json(start).error.message).toContain('gateway.bind')
      expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})

describe('--provider template behind the Caddyfile of docs/edge.md', () => {
  it('the port from the host name, through a static Caddy: 200 with the token; a name with no preview gets the 404', async () => {
    const caddyfile = docsBlock('docs/edge.md', '### Caddyfile for `--provider template`')
      .replace(/^\s*tls .*\n/m, '')
      .replace('*.preview.example.com {', 'http://*.preview.example.com {')
    const caddy = await startCaddy({server: {routes: adaptCaddyfile(caddyfile).apps.http.servers.srv0.routes}})
    const repo = makeRepo()
    try {
      writeConfig(path.join(repo.dir, '.sdd'), {
        gateway: {bind: '127.0.0.2'},
        providers: {template: {url: `http://preview-{port}.preview.example.com:${caddy.httpPort}`}},
      })
      const start = await runCli(START, {cwd: repo.dir})
      expect(start.code, start.stderr).toBe(0)
      const row = json(start)
      expect((await viaEdge(caddy.httpPort, `${row.public_url}/`)).status).toBe(401)
      const page = await viaEdge(caddy.httpPort, `${row.public_url}/`, {authorization: `Bearer ${tokenOf(row.share_url)}`})
      expect([page.status, page.body]).toEqual([200, expect.stringContaining('hello from the app')])
      expect(await wsEchoViaEdge(caddy.httpPort, `${row.public_url}/ws`, {authorization: `Bearer ${tokenOf(row.share_url)}`})).toBe(
        'echo:ping',
      )
      const other = await viaEdge(caddy.httpPort, `http://nothing.preview.example.com:${caddy.httpPort}/`)
      expect([other.status, other.body]).toEqual([404, 'No such preview'])
    } finally {
      await runCli(['stop', '--all'], {cwd: repo.dir})
      await caddy.stop()
      repo.cleanup()
      rmSync(caddy.dir, {force: true, recursive: true})
    }
  })
})
