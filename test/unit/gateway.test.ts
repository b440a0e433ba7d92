import {createHash, randomBytes} from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import {SignJWT} from 'jose'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'
import {mintLink} from '../../src/core/records/credentials.js'
import {startGateway, type Gateway} from '../../src/core/gateway/index.js'
import type {LinkRecord} from '../../src/core/records/types.js'
import {blockOf, request, startDevServer, type DevServer} from './gateway-helpers.js'

const ID = 'p-0123abcd'
const COOKIE = `preview_${ID}`
const key = new Uint8Array(randomBytes(32))
const now = () => Math.floor(Date.now() / 1000)

let dev: DevServer
let gw: Gateway
let links: LinkRecord[] = []
let good: {url: string; token: string; jti: string}

async function mint(opts: {expires?: number; previewId?: string; signKey?: Uint8Array; record?: boolean} = {}) {
  const m = await mintLink({
    authMode: 'token',
    expiresAtEpoch: opts.expires ?? now() + 3600,
    key: opts.signKey ?? key,
    previewId: opts.previewId ?? ID,
    publicUrl: gw.url,
  })
  if (opts.record !== false) {
    links.push(m.record)
    gw.setLinks(links)
  }

  return {jti: m.record.jti, token: new URL(m.url).searchParams.get('token')!, url: m.url}
}

function b64(obj: unknown): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url')
}

beforeAll(async () => {
  dev = await startDevServer()
  gw = await startGateway({auth: {jwtKey: key, links, mode: 'token', previewId: ID}, targetPort: dev.port})
  good = await mint()
})

afterAll(async () => {
  await gw.close()
  await dev.close()
})

describe('token mode', () => {
  it('refuses a request without credentials', async () => {
    const r = await request(`${gw.url}/echo`)
    expect(r.status).toBe(401)
    expect(r.headers['x-preview-refusal']).toBe('missing')
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/)
  })

  it('exchanges a link token for a cookie and redirects without the token', async () => {
    const r = await request(`${gw.url}/some/page?a=1&token=${good.token}&b=2`)
    expect(r.status).toBe(302)
    expect(r.headers.location).toBe('/some/page?a=1&b=2')
    expect(r.headers['referrer-policy']).toBe('no-referrer')
    const cookie = r.headers['set-cookie']?.[0] ?? ''
    expect(cookie).toContain(`${COOKIE}=${good.token}`)
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Lax/)
    expect(cookie).not.toMatch(/Secure/)

    const next = await request(`${gw.url}/echo`, {headers: {cookie: `other=1; ${COOKIE}=${good.token}; x=2`}})
    expect(next.status).toBe(200)
    const seen = JSON.parse(next.body) as {headers: Record<string, string>}
    // The preview's own cookie never reaches the dev server; the app's cookies do.
    expect(seen.headers.cookie).toBe('other=1; x=2')
  })

  it('never redirects off the preview', async () => {
    const r = await request(`${gw.url}//evil.test/x?token=${good.token}`)
    expect(r.status).toBe(302)
    expect(r.headers.location).toBe('/evil.test/x')
  })

  it('accepts Authorization: Bearer and strips it', async () => {
    const r = await request(`${gw.url}/echo`, {headers: {authorization: `Bearer ${good.token}`}})
    expect(r.status).toBe(200)
    expect((JSON.parse(r.body) as {headers: Record<string, string>}).headers.authorization).toBeUndefined()
  })

  it('consumes the token on non-GET requests without redirecting', async () => {
    const r = await request(`${gw.url}/echo?token=${good.token}`, {body: 'x', method: 'POST'})
    expect(r.status).toBe(200)
    expect((JSON.parse(r.body) as {url: string}).url).toBe('/echo')
  })

  it('passes an app token in the query untouched when the session is valid', async () => {
    const r = await request(`${gw.url}/echo?token=vite-own-token`, {headers: {cookie: `${COOKIE}=${good.token}`}})
    expect(r.status).toBe(200)
    expect((JSON.parse(r.body) as {url: string}).url).toBe('/echo?token=vite-own-token')
  })

  it('refuses each kind of bad token', async () => {
    const expired = await mint({expires: now() - 10})
    const otherKey = await mint({record: false, signKey: new Uint8Array(randomBytes(32))})
    const other = await mint({previewId: 'p-ffffffff'})
    const unknown = await mint({record: false})
    const revoked = await mint()
    links.find((l) => l.jti === revoked.jti)!.revoked = true
    gw.setLinks(links)
    const [h, p] = good.token.split('.')
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>
    const forged = `${h}.${b64({...payload, exp: now() + 999_999})}.${good.token.split('.')[2]}`
    const algNone = `${b64({alg: 'none', typ: 'JWT'})}.${p}.`
    const hs512 = await new SignJWT({jti: good.jti})
      .setProtectedHeader({alg: 'HS512'})
      .setSubject(ID)
      .setExpirationTime(now() + 60)
      .sign(key)
    const cases: [string, string, number][] = [
      [expired.token, 'expired', 401],
      [otherKey.token, 'signature', 401],
      [other.token, 'other-preview', 403],
      [unknown.token, 'unknown-link', 403],
      [revoked.token, 'revoked', 403],
      [forged, 'signature', 401],
      [algNone, 'algorithm', 401],
      [hs512, 'algorithm', 401],
      ['not-a-jwt', 'malformed', 401],
    ]
    for (const [token, kind, status] of cases) {
      const variants: Record<string, string>[] = [{}, {authorization: `Bearer ${token}`}, {cookie: `${COOKIE}=${token}`}]
      for (const headers of variants) {
        const url = Object.keys(headers).length === 0 ? `${gw.url}/echo?token=${token}` : `${gw.url}/echo`
        const r = await request(url, {headers})
        expect({kind, status: r.status}).toEqual({kind, status})
        expect(r.headers['x-preview-refusal']).toBe(kind)
      }
    }

    // A refused cookie is cleared.
    const r = await request(`${gw.url}/`, {headers: {cookie: `${COOKIE}=${revoked.token}`}})
    expect(r.headers['set-cookie']?.[0]).toMatch(new RegExp(`^${COOKIE}=; Max-Age=0`))
    expect(dev.seen.some((s) => s.url.includes(expired.token) || s.url.includes(revoked.token))).toBe(false)
  })

  it('honours revocation on a live keep-alive connection: its next request is refused (403), not reset', async () => {
    const link = await mint()
    const agent = new http.Agent({keepAlive: true, maxSockets: 1})
    try {
      const headers = {cookie: `${COOKIE}=${link.token}`}
      expect((await request(`${gw.url}/echo`, {agent, headers})).status).toBe(200)
      expect((await request(`${gw.url}/echo`, {agent, headers})).reusedSocket).toBe(true)
      links = links.map((l) => (l.jti === link.jti ? {...l, revoked: true} : l))
      gw.setLinks(links)
      await new Promise((r) => setTimeout(r, 300)) // a sweep or two: an idle connection stays open
      const r = await request(`${gw.url}/echo`, {agent, headers})
      expect(r.reusedSocket).toBe(true)
      expect(r.status).toBe(403)
      expect(r.headers['x-preview-refusal']).toBe('revoked')
    } finally {
      agent.destroy()
    }
  })

  it('cuts a streamed response at revocation: no event after it', async () => {
    const link = await mint()
    const events: string[] = []
    const ended = new Promise<void>((resolve) => {
      const req = http.get(`${gw.url}/sse`, {agent: false, headers: {cookie: `${COOKIE}=${link.token}`}}, (res) => {
        res.on('data', (d: Buffer) => {
          events.push(d.toString())
          if (events.length === 1) {
            links = links.map((l) => (l.jti === link.jti ? {...l, revoked: true} : l))
            gw.setLinks(links)
          }
        })
        res.on('close', () => resolve())
        res.on('error', () => resolve())
      })
      req.on('error', () => resolve())
    })
    await ended
    expect(events.join('')).toContain('data: 0')
    expect(events.join('')).not.toContain('data: 1')
  })

  it('sets a Secure cookie once the public URL is https', async () => {
    gw.setPublicUrl('https://abc.example.test')
    try {
      const r = await request(`${gw.url}/?token=${good.token}`)
      expect(r.headers['set-cookie']?.[0]).toMatch(/; Secure/)
    } finally {
      gw.setPublicUrl(gw.url)
    }
  })
})

describe('proxying', () => {
  const auth = () => ({cookie: `${COOKIE}=${good.token}`})

  it('rewrites Host/Origin/Referer for a dev server that checks Host, and checks Origin itself', async () => {
    gw.setPublicUrl('https://abc.example.test')
    try {
      const ok = await request(`${gw.url}/echo`, {
        headers: {
          ...auth(),
          host: 'abc.example.test',
          origin: 'https://abc.example.test',
          referer: 'https://abc.example.test/a?b=1',
          'x-forwarded-host': 'evil.test',
        },
        method: 'POST',
      })
      expect(ok.status).toBe(200)
      const h = (JSON.parse(ok.body) as {headers: Record<string, string>}).headers
      expect(h.host).toBe(`localhost:${dev.port}`)
      expect(h.origin).toBe(`http://localhost:${dev.port}`)
      expect(h.referer).toBe(`http://localhost:${dev.port}/a?b=1`)
      expect(h['x-forwarded-host']).toBe(`localhost:${dev.port}`)
      expect(h['x-forwarded-proto']).toBe('http')
      expect(h['x-preview-public-host']).toBe('abc.example.test')
      expect(h['x-preview-public-proto']).toBe('https')

      const csrf = await request(`${gw.url}/echo`, {headers: {...auth(), origin: 'https://evil.test'}, method: 'POST'})
      expect(csrf.status).toBe(403)
      expect(csrf.headers['x-preview-refusal']).toBe('origin')
    } finally {
      gw.setPublicUrl(gw.url)
    }
  })

  it('removes hop-by-hop headers and refuses ambiguous framing', async () => {
    const r = await request(`${gw.url}/echo`, {
      headers: {...auth(), connection: 'keep-alive, x-secret', 'keep-alive': 'timeout=5', 'x-secret': '1', te: 'trailers'},
    })
    const h = (JSON.parse(r.body) as {headers: Record<string, string>}).headers
    expect(h['x-secret']).toBeUndefined()
    expect(h['keep-alive']).toBeUndefined()
    expect(h.te).toBeUndefined()

    const raw = await rawExchange(
      `POST /echo HTTP/1.1\r\nHost: x\r\nCookie: ${COOKIE}=${good.token}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    )
    expect(raw).toMatch(/^HTTP\/1.1 400/)
  })

  it('frames request bodies so a body can never smuggle a request past the auth check', async () => {
    const s = net.connect(gw.port, '127.0.0.1')
    let got = ''
    s.on('data', (d: Buffer) => (got += d.toString('latin1')))
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 100 && !re.test(got); i++) await new Promise((r) => setTimeout(r, 20))
      return got
    }

    try {
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
      s.write(`POST /echo HTTP/1.1\r\nHost: x\r\nCookie: ${COOKIE}=${good.token}\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`)
      expect(await waitFor(/"url":"\/echo"/)).toMatch(/"url":"\/echo"/)
      const chunkedBody = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`
      s.write(`POST /echo?two HTTP/1.1\r\nHost: x\r\nCookie: ${COOKIE}=${good.token}\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody}`)
      expect(await waitFor(/"url":"\/echo\?two"/)).toMatch(/"url":"\/echo\?two"/)
      // Same connection, no credentials: refused even though the previous requests were authenticated.
      s.write('GET /third HTTP/1.1\r\nHost: x\r\n\r\n')
      expect(await waitFor(/HTTP\/1.1 401/)).toMatch(/HTTP\/1.1 401/)
    } finally {
      s.destroy()
    }

    expect(dev.seen.some((r) => r.url === '/smuggled' || r.url === '/third')).toBe(false)
  })

  it('streams SSE events as they are sent', async () => {
    const times: number[] = []
    const start = Date.now()
    await new Promise<void>((resolve, reject) => {
      http
        .get(`${gw.url}/sse`, {agent: false, headers: auth()}, (res) => {
          res.on('data', () => times.push(Date.now() - start))
          res.on('end', () => resolve())
        })
        .on('error', reject)
    })
    expect(times.length).toBe(3)
    // Events are 150 ms apart at the source; buffering would bunch them together at the end.
    expect(times[0]!).toBeLessThan(280)
    expect(times[1]! - times[0]!).toBeGreaterThan(80)
    expect(times[2]! - times[1]!).toBeGreaterThan(80)
  })

  it('passes a 20 MB upload (length and chunked) and a 50 MB download intact', async () => {
    const body = Buffer.alloc(20 * 1024 * 1024)
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i)
    const sha = createHash('sha256').update(body).digest('hex')
    const up = await request(`${gw.url}/upload`, {body, headers: auth(), method: 'POST'})
    expect(JSON.parse(up.body)).toEqual({bytes: body.length, sha256: sha})

    const chunked = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${gw.url}/upload`, {agent: false, headers: auth(), method: 'POST'}, (res) => {
        let text = ''
        res.on('data', (d: Buffer) => (text += d.toString()))
        res.on('end', () => resolve(text))
      })
      req.on('error', reject)
      for (let i = 0; i < body.length; i += 1024 * 1024 + 7) req.write(body.subarray(i, i + 1024 * 1024 + 7))
      req.end()
    })
    expect(JSON.parse(chunked)).toEqual({bytes: body.length, sha256: sha})

    const expected = createHash('sha256')
    for (let i = 0; i < 50; i++) expected.update(blockOf(i))
    const got = await new Promise<{bytes: number; sha: string}>((resolve, reject) => {
      http
        .get(`${gw.url}/download?mb=50`, {agent: false, headers: auth()}, (res) => {
          const hash = createHash('sha256')
          let bytes = 0
          res.on('data', (d: Buffer) => {
            hash.update(d)
            bytes += d.length
          })
          res.on('end', () => resolve({bytes, sha: hash.digest('hex')}))
        })
        .on('error', reject)
    })
    expect(got).toEqual({bytes: 50 * 1024 * 1024, sha: expected.digest('hex')})
  })

  it('carries WebSocket upgrades with auth, and refuses them without', async () => {
    const echo = await wsEcho(`${gw.url.replace('http', 'ws')}/hmr?token=vite-token`, {headers: auth(), origin: gw.url})
    expect(echo).toEqual(['hello /hmr?token=vite-token', 'ping'])
    const viaToken = await wsEcho(`${gw.url.replace('http', 'ws')}/hmr?token=${good.token}`, {})
    expect(viaToken).toEqual(['hello /hmr', 'ping'])
    await expect(wsEcho(`${gw.url.replace('http', 'ws')}/hmr`, {})).rejects.toThrow(/401/)
  })

  it('closes a connection whose request head trickles in too slowly (408), and keeps a prompt one', async () => {
    const spare = await startGateway({
      auth: {jwtKey: key, links: [], mode: 'none', previewId: ID},
      headTimeoutMs: 300,
      targetPort: dev.port,
    })
    try {
      const slow = net.connect(spare.port, '127.0.0.1')
      let answer = ''
      slow.on('data', (d: Buffer) => (answer += d.toString('latin1')))
      const closed = new Promise<void>((resolve) => slow.on('close', () => resolve()))
      slow.write('GET / HTTP/1.1\r\nHost: x\r\n') // and never the blank line
      const started = Date.now()
      await closed
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      expect(Date.now() - started).toBeLessThan(5000)
      expect(answer).toMatch(/^HTTP\/1\.1 408 /)
      const prompt = await request(`${spare.url}/`)
      expect(prompt.status).toBe(200)
    } finally {
      await spare.close()
    }
  })

  it('answers 502 when the dev server is down', async () => {
    const spare = await startGateway({auth: {jwtKey: key, links: [], mode: 'none', previewId: ID}, targetPort: await deadPort()})
    try {
      const r = await request(`${spare.url}/`)
      expect(r.status).toBe(502)
    } finally {
      await spare.close()
    }
  })
})

describe('basic and none modes', () => {
  it('basic: asks for credentials, compares the password, strips Authorization', async () => {
    const m = await mintLink({authMode: 'basic', expiresAtEpoch: now() + 600, key, previewId: ID, publicUrl: 'http://127.0.0.1:1'})
    const activity: number[] = []
    const g = await startGateway({
      auth: {jwtKey: key, links: [m.record], mode: 'basic', previewId: ID},
      onActivity: () => activity.push(1),
      targetPort: dev.port,
    })
    try {
      const none = await request(`${g.url}/echo`)
      expect(none.status).toBe(401)
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm="preview"/)
      const pass = new URL(m.url).password
      const basic = (u: string, p: string) => ({authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`})
      expect((await request(`${g.url}/echo`, {headers: basic('preview', 'wrong')})).status).toBe(401)
      expect((await request(`${g.url}/echo`, {headers: basic('admin', pass)})).status).toBe(401)
      const ok = await request(`${g.url}/echo`, {headers: basic('preview', pass)})
      expect(ok.status).toBe(200)
      expect((JSON.parse(ok.body) as {headers: Record<string, string>}).headers.authorization).toBeUndefined()
      g.setLinks([{...m.record, revoked: true}])
      expect((await request(`${g.url}/echo`, {headers: basic('preview', pass)})).status).toBe(403)
      expect(activity.length).toBe(5)
    } finally {
      await g.close()
    }
  })

  it('none: passes requests and sockets through, waking the upstream first', async () => {
    let woken = 0
    const g = await startGateway({
      auth: {jwtKey: key, links: [], mode: 'none', previewId: ID},
      ensureUpstream: async () => {
        woken += 1
      },
      targetPort: dev.port,
    })
    try {
      expect((await request(`${g.url}/echo`)).status).toBe(200)
      expect(await wsEcho(`${g.url.replace('http', 'ws')}/x`, {})).toEqual(['hello /x', 'ping'])
      expect(woken).toBe(2)
    } finally {
      await g.close()
    }
  })
})

function wsEcho(url: string, opts: {headers?: Record<string, string>; origin?: string}): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {headers: opts.headers, origin: opts.origin})
    const got: string[] = []
    const timer = setTimeout(() => reject(new Error('websocket timed out')), 5000)
    ws.on('message', (m) => {
      got.push(m.toString())
      if (got.length === 1) ws.send('ping')
      else {
        clearTimeout(timer)
        ws.close()
        resolve(got)
      }
    })
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(timer)
      reject(new Error(`unexpected response ${res.statusCode}`))
    })
    ws.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })
}

function rawExchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gw.port, '127.0.0.1', () => s.write(text))
    let out = ''
    s.on('data', (d) => (out += d.toString('latin1')))
    s.on('close', () => resolve(out))
    s.on('error', reject)
    s.setTimeout(5000, () => s.destroy())
  })
}

async function deadPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => {
    s.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => {
    s.close(() => resolve())
  })
  return port
}
