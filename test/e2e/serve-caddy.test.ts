// `preview serve --caddy` (issue 16): the host registers one route for *.<domain> with a real Caddy (Debian's, on
// loopback, automatic HTTPS off), previews answer through Caddy by host name, Caddy's on-demand TLS `ask` check
// gets 200 only for names the host would serve, a Caddy restart gets the route back, and stop removes it.
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {serveRouteId} from '../../src/core/host/caddy-edge.js'
import {signName, signature} from '../../src/core/host/names.js'
import {startCaddy, viaEdge, type Caddy} from '../helpers/edge.js'
import {waitFor} from '../helpers/proc.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'
import {request, startServe, type ServeProcess} from '../helpers/serve.js'

const SECRET = 'caddy-test-secret-0123456789'
const DOMAIN = 'preview.test'

describe('preview serve behind Caddy', () => {
  let repo: TempRepo
  let caddy: Caddy
  let host: ServeProcess | null = null
  const id = serveRouteId(DOMAIN)
  const routePresent = async () => (await caddy.api('GET', `/id/${id}`).catch(() => ({status: 0}))).status === 200

  beforeAll(async () => {
    repo = makeRepo({body: 'hello through caddy'})
    git(repo.dir, 'checkout', '-q', '-b', 'feature')
    repo.commit('feature')
    git(repo.dir, 'checkout', '-q', 'main')
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node server.js\n')
    caddy = await startCaddy()
    host = await startServe(['.', '--domain', DOMAIN, '--secret', SECRET, '--caddy', '--caddy-admin', caddy.adminUrl], {cwd: repo.dir})
  })

  afterAll(async () => {
    await host?.stop()
    await caddy?.stop()
    repo.cleanup()
  })

  it('registers *.<domain>: a signed preview name answers through Caddy, an unsigned one is refused there too', async () => {
    expect(await routePresent()).toBe(true)
    const ok = await viaEdge(caddy.httpPort, `http://${signName(SECRET, 'main')}.${DOMAIN}/`)
    expect(ok.status).toBe(200)
    expect(ok.body).toContain('hello through caddy')
    expect((await viaEdge(caddy.httpPort, `http://main.${DOMAIN}/`)).status).toBe(403)
  })

  it("answers Caddy's on-demand TLS ask with 200 only for names it would serve", async () => {
    const ask = async (domain: string) =>
      (await request(host!.port, '127.0.0.1', `/-/preview/tls-ask?domain=${encodeURIComponent(domain)}`)).status
    expect(await ask(`${signName(SECRET, 'main')}.${DOMAIN}`)).toBe(200)
    expect(await ask(`${signName(SECRET, 'feature')}.${DOMAIN}`)).toBe(200)
    expect(await ask(DOMAIN)).toBe(200) // the dashboard's own name
    expect(await ask(`main.${DOMAIN}`)).toBe(403) // unsigned
    expect(await ask(`main--${signature('wrong-secret-000000000', 'main')}.${DOMAIN}`)).toBe(403)
    expect(await ask(`${signName(SECRET, 'no-such-branch')}.${DOMAIN}`)).toBe(403) // signed, but no such ref
    expect(await ask(`${signName(SECRET, 'main')}.elsewhere.test`)).toBe(403)
  })

  it('puts the route back within 10 s when Caddy restarts empty, and removes it on stop', async () => {
    await caddy.restart() // from its file: the route the host added is gone (checked every 2 s, put back)
    const t0 = Date.now()
    expect(await waitFor(routePresent, 10_000)).toBe(true)
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect((await viaEdge(caddy.httpPort, `http://${signName(SECRET, 'main')}.${DOMAIN}/`)).status).toBe(200)
    await host!.stop()
    host = null
    expect(await routePresent()).toBe(false)
  })
})
