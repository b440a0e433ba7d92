// `preview serve --auth token`: every preview asks for a link; the admin API mints one per host name (printed
// how at start), the first visit swaps it for a cookie, a link opens only its own name, and revoking it closes
// the door at once. Links survive a host restart.
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {waitFor} from '../helpers/proc.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'
import {request, startServe, type ServeProcess} from '../helpers/serve.js'

const ADMIN = 'token-admin-secret'
const admin = {authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json'}

describe('preview serve --auth token', () => {
  let repo: TempRepo
  let host: ServeProcess
  const share = (body: unknown, headers: Record<string, string> = admin) =>
    request(host.port, 'localhost', '/-/preview/share', {body: JSON.stringify(body), headers, method: 'POST'})

  beforeAll(async () => {
    repo = makeRepo({body: 'token main'})
    git(repo.dir, 'branch', 'other')
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node server.js\n')
    host = await startServe(['.', '--auth', 'token', '--admin-secret', ADMIN], {cwd: repo.dir})
  })

  afterAll(async () => {
    await host?.stop()
    repo.cleanup()
  })

  it('says how to mint links, and a preview without one is refused before anything runs', async () => {
    expect(await waitFor(() => host.stdout().includes(`Token links: POST http://localhost:${host.port}/-/preview/share`), 5000)).toBe(true)
    const bare = await request(host.port, 'main.localhost')
    expect(bare.status).toBe(401)
    expect(bare.headers['x-preview-refusal']).toBe('missing')
    expect((await share({expire: '1h', name: 'main'}, {'content-type': 'application/json'})).status).toBe(401)
  })

  it('a minted link opens its preview (token swapped for a cookie), not another name; revoked, it stops working', async () => {
    const minted = await share({expire: '1h', name: 'main'})
    expect(minted.status).toBe(200)
    const link = JSON.parse(minted.body)
    const url = new URL(link.url)
    expect(url.host).toBe(`main.localhost:${host.port}`)
    const first = await request(host.port, 'main.localhost', `/${url.search}`)
    expect(first.status).toBe(302)
    expect(first.headers.location).toBe('/')
    const cookie = String(first.headers['set-cookie']).split(';')[0]!
    const page = await request(host.port, 'main.localhost', '/', {headers: {cookie}})
    expect(page.status).toBe(200)
    expect(page.body).toMatch(/^token main/)
    // The same token on another name is another preview's link.
    expect((await request(host.port, 'other.localhost', `/${url.search}`)).status).toBe(403)
    // Links survive a restart of the host.
    expect(await host.stop()).toBe(0)
    host = await startServe(['.', '--auth', 'token', '--admin-secret', ADMIN], {cwd: repo.dir})
    expect((await request(host.port, 'main.localhost', '/', {headers: {cookie}})).status).toBe(200)
    const revoke = await request(host.port, 'localhost', '/-/preview/revoke', {
      body: JSON.stringify({jti: link.jti, name: 'main'}),
      headers: admin,
      method: 'POST',
    })
    expect(JSON.parse(revoke.body)).toEqual({name: 'main', revoked: 1})
    const after = await request(host.port, 'main.localhost', '/', {headers: {cookie}})
    expect(after.status).toBe(403)
    expect(after.headers['x-preview-refusal']).toBe('revoked')
  })

  it('bad share requests are refused with a reason', async () => {
    expect((await share({expire: '1h', name: 'no.such'})).status).toBe(400)
    expect((await share({expire: '30d', name: 'main'})).status).toBe(400)
  })
})
