// Issue 11's findings, each as an attacker holding one valid link would try it: nothing may reach the dev server
// that the gateway did not parse and check, our credentials never reach it, and revoked means gone.
import {randomBytes} from 'node:crypto'
import net from 'node:net'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import WebSocket from 'ws'
import {mintLink} from '../../src/core/records/credentials.js'
import {startGateway, type Gateway} from '../../src/core/gateway/index.js'
import type {LinkRecord} from '../../src/core/records/types.js'
import {request, startDevServer, type DevServer} from './gateway-helpers.js'

const ID = 'p-0123abcd'
const OTHER = 'p-99998888'
const key = new Uint8Array(randomBytes(32))
const now = () => Math.floor(Date.now() / 1000)

let dev: DevServer
let gw: Gateway
let links: LinkRecord[] = []
let token: string
let jti: string

async function mint(previewId = ID): Promise<{token: string; jti: string}> {
  const m = await mintLink({authMode: 'token', expiresAtEpoch: now() + 3600, key, previewId, publicUrl: 'http://127.0.0.1:1/'})
  return {jti: m.record.jti, token: new URL(m.url).searchParams.get('token')!}
}

/** Writes raw bytes, returns everything the gateway sent back until it closed (or `waitMs` passed) and how long that took. */
function raw(port: number, bytes: string | Buffer, waitMs = 3000): Promise<{text: string; closed: boolean; ms: number}> {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const chunks: Buffer[] = []
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes))
    const done = (closed: boolean) => {
      clearTimeout(timer)
      s.destroy()
      resolve({closed, ms: Date.now() - t0, text: Buffer.concat(chunks).toString('latin1')})
    }

    const timer = setTimeout(() => done(false), waitMs)
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('close', () => done(true))
    s.on('error', () => done(true))
  })
}

/** Resolves to how long `event` took, or Infinity after `ms` (a failing check fails fast). */
function within(ms: number, wait: (done: () => void) => void): Promise<number> {
  const t0 = Date.now()
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Number.POSITIVE_INFINITY), ms)
    wait(() => {
      clearTimeout(timer)
      resolve(Date.now() - t0)
    })
  })
}

function seenUrls(): string[] {
  return dev.seen.map((s) => s.url)
}

beforeAll(async () => {
  dev = await startDevServer()
  gw = await startGateway({auth: {jwtKey: key, links, mode: 'token', previewId: ID}, targetPort: dev.port})
  const m = await mint()
  token = m.token
  jti = m.jti
  links.push({auth_mode: 'token', expires_at_epoch: now() + 3600, jti, revoked: false})
  gw.setLinks(links)
})

afterAll(async () => {
  await gw.close()
  await dev.close()
})

beforeEach(() => {
  dev.seen.length = 0
})

describe('request smuggling and parser differentials', () => {
  it('refuses Connection: content-length, so a body cannot become a second request', async () => {
    const inner = 'GET /echo HTTP/1.1\r\nHost: evil.example\r\nOrigin: https://evil.example\r\n\r\n'
    const r = await raw(
      gw.port,
      `POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: content-length\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`,
    )
    expect(r.text).toMatch(/^HTTP\/1\.1 400 /)
    expect(dev.seen).toEqual([])
  })

  it('refuses Connection: transfer-encoding (it would strip the framing)', async () => {
    const r = await raw(
      gw.port,
      `POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    )
    expect(r.text).toMatch(/^HTTP\/1\.1 400 /)
    expect(dev.seen).toEqual([])
  })

  it('refuses a bare LF in the request target at once', async () => {
    const r = await raw(gw.port, `GET /echo\nOrigin:https://evil.example HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    expect(r.text).toMatch(/^HTTP\/1\.1 400 /)
    expect(dev.seen).toEqual([])
  })

  it('answers a request with bare LF line endings with 400 at once, not after the head timeout', async () => {
    const r = await raw(gw.port, `GET /echo HTTP/1.1\nHost: x\nAuthorization: Bearer ${token}\n\n`)
    expect(r.text).toMatch(/^HTTP\/1\.1 400 /)
    expect(r.ms).toBeLessThan(1500)
    expect(dev.seen).toEqual([])
  })

  it('refuses obs-fold, whitespace before the colon, CTL bytes, two Hosts and two Content-Lengths', async () => {
    const auth = `Authorization: Bearer ${token}\r\n`
    const heads = [
      `GET /echo HTTP/1.1\r\nHost: x\r\n${auth}X-A: 1\r\n folded\r\n\r\n`,
      `GET /echo HTTP/1.1\r\nHost: x\r\n${auth}X-A : 1\r\n\r\n`,
      `GET /echo HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\x00b\r\n\r\n`,
      `GET /ec\x01ho HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
      `GET /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\n${auth}\r\n`,
      `POST /upload HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 1\r\nContent-Length: 1\r\n\r\nA`,
      `POST /upload HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST /upload HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
      `GET /echo HTTP/1.1\r\nHost: x\r\n${auth}Connection: upgrade\r\nUpgrade: h2c\r\n\r\n`,
    ]
    for (const head of heads) {
      const r = await raw(gw.port, head)
      expect({head, status: r.text.slice(0, 12)}).toEqual({head, status: expect.stringMatching(/^HTTP\/1\.1 (400|501)$/)})
    }

    expect(dev.seen).toEqual([])
  })
})

describe('what the differential fuzzer found (each failed before its fix)', () => {
  it('refuses methods llhttp does not know, and answers a refused HEAD without a body', async () => {
    for (const m of ['X', 'get', 'PRI']) {
      const r = await raw(gw.port, `${m} /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`)
      expect(r.text).toMatch(/^HTTP\/1\.1 400 /)
    }

    const head = await raw(gw.port, `HEAD /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: host\r\n\r\n`)
    expect(head.text).toMatch(/^HTTP\/1\.1 400 [^]*\r\n\r\n$/)
    expect(dev.seen).toEqual([])
  })

  it('passes header bytes above 0x7F through byte for byte', async () => {
    const r = await raw(
      gw.port,
      Buffer.from(
        `GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nX-Name: caf\xe9\r\nConnection: close\r\n\r\n`,
        'latin1',
      ),
    )
    expect(r.text).toMatch(/^HTTP\/1\.1 200 /)
    expect(Buffer.from(dev.seen[0]!.headers['x-name'] as string, 'latin1')).toEqual(Buffer.from('caf\xe9', 'latin1'))
  })

  it('keeps re-spelled and HS512 tokens of ours from the app, and takes basic credentials only in canonical base64', async () => {
    const {SignJWT} = await import('jose')
    const hs512 = await new SignJWT({jti})
      .setProtectedHeader({alg: 'HS512'})
      .setSubject(ID)
      .setExpirationTime(now() + 60)
      .sign(key)
    const session = {cookie: `preview_${ID}=${token}`}
    for (const authorization of [`Bearer ${token}=`, `Bearer ${hs512}`, `Token ${token}`]) {
      const r = await request(`${gw.url}/echo?token=${token}%3D&x=1`, {headers: {...session, authorization}, method: 'POST'})
      expect(r.status).toBe(200)
      const seen = JSON.parse(r.body) as {url: string; headers: Record<string, string>}
      expect(seen.headers.authorization).toBeUndefined()
      expect(seen.url).toBe('/echo?x=1')
    }

    const basic = await startGateway({
      auth: {
        jwtKey: key,
        links: [
          {
            auth_mode: 'basic',
            expires_at_epoch: now() + 60,
            jti: 'b',
            password_sha256: (await import('node:crypto')).createHash('sha256').update('pw').digest('hex'),
            revoked: false,
          },
        ],
        mode: 'basic',
        previewId: ID,
      },
      targetPort: dev.port,
    })
    try {
      const canonical = Buffer.from('preview:pw').toString('base64')
      expect((await request(`${basic.url}/echo`, {headers: {authorization: `Basic ${canonical}`}})).status).toBe(200)
      expect((await request(`${basic.url}/echo`, {headers: {authorization: `Basic ${canonical.replace(/=+$/, '')}`}})).status).toBe(401)
    } finally {
      await basic.close()
    }
  })
})

describe('pipelining and upgrades (found by the fuzzer; each failed before its fix)', () => {
  it("a refused request pipelined behind a good one waits for the good one's response, then is answered", async () => {
    const r = await raw(
      gw.port,
      `HEAD /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n`,
    )
    expect(r.text).toMatch(/^HTTP\/1\.1 200 [^]*HTTP\/1\.1 401 /)
    expect(dev.seen.map((s) => s.method)).toEqual(['HEAD'])
  })

  it('bytes a client sends after an upgrade head, then half-closing, still reach the tunnel', async () => {
    const frame = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e]) // masked text frame "hello"
    const text = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = []
      const s = net.connect(gw.port, '127.0.0.1', () => {
        s.write(
          `GET /socket HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
        )
        s.end(frame)
      })
      s.on('data', (d: Buffer) => chunks.push(d))
      s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
      setTimeout(() => s.destroy(), 5000).unref()
    })
    expect(text).toMatch(/^HTTP\/1\.1 101 /)
    expect(text).toContain('hello /socket') // the fixture greets on open
    expect(text).toContain('hello') // and echoes the early frame
    expect(text.split('hello').length - 1).toBeGreaterThanOrEqual(2)
  })
})

describe('tokens exactly as issued', () => {
  it('does not let a header be injected through the token exchange', async () => {
    const r = await raw(gw.port, `GET /?token=${token}%3D%0D%0ASet-Cookie:%20sessionid=x HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect(r.text).not.toMatch(/sessionid/)
    expect(r.text).toMatch(/^HTTP\/1\.1 401 /)
  })

  it('refuses malleated spellings of a valid token', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const i = alphabet.indexOf(token.at(-1)!)
    const sameBits = `${token.slice(0, -1)}${alphabet[(i & ~3) | ((i + 1) & 3)]}` // decodes to the same 32 bytes
    const variants = [
      `${token}=`,
      `${token}==`,
      `${token.slice(0, 10)}!${token.slice(10)}`,
      `${token.slice(0, 10)}*${token.slice(10)}`,
      token.replaceAll('-', '+').replaceAll('_', '/'),
      sameBits,
    ]
    for (const v of variants.filter((x) => x !== token)) {
      const r = await request(`${gw.url}/echo`, {headers: {authorization: `Bearer ${v}`}})
      expect({v, status: r.status}).toEqual({status: 401, v})
    }

    expect(seenUrls()).toEqual([])
  })
})

describe('our credentials stay ours', () => {
  it("never hands any preview's cookie, our tokens or our Bearer to the app; the user's own pass", async () => {
    const other = await mint(OTHER)
    const cookie = `theme=dark; preview_${OTHER}=${other.token}; preview_${ID}=${token}; sid=abc`
    const r1 = await request(`${gw.url}/echo?token=${other.token}&x=1`, {headers: {cookie}})
    expect(r1.status).toBe(200)
    const seen1 = JSON.parse(r1.body) as {url: string; headers: Record<string, string>}
    expect(seen1.headers.cookie).toBe('theme=dark; sid=abc')
    expect(seen1.url).toBe('/echo?x=1')
    // A Bearer token of ours next to a valid cookie is taken out too.
    const r2 = await request(`${gw.url}/echo`, {headers: {authorization: `Bearer ${other.token}`, cookie: `preview_${ID}=${token}`}})
    expect(r2.status).toBe(200)
    expect((JSON.parse(r2.body) as {headers: Record<string, string>}).headers.authorization).toBeUndefined()
    // The user's own Authorization passes.
    const r3 = await request(`${gw.url}/echo`, {headers: {authorization: 'Basic dXNlcjpwYXNz', cookie: `preview_${ID}=${token}`}})
    expect((JSON.parse(r3.body) as {headers: Record<string, string>}).headers.authorization).toBe('Basic dXNlcjpwYXNz')
    for (const s of dev.seen) {
      expect(JSON.stringify(s)).not.toContain(token)
      expect(JSON.stringify(s)).not.toContain(other.token)
    }
  })

  it('refuses an unsafe cross-site request that carries no Origin', async () => {
    const r = await request(`${gw.url}/upload`, {
      body: 'x',
      headers: {authorization: `Bearer ${token}`, 'sec-fetch-site': 'cross-site'},
      method: 'POST',
    })
    expect(r.status).toBe(403)
    expect(r.headers['x-preview-refusal']).toBe('origin')
    const ok = await request(`${gw.url}/echo`, {headers: {authorization: `Bearer ${token}`, 'sec-fetch-site': 'cross-site'}})
    expect(ok.status).toBe(200) // a cross-site GET (a link followed from another site) is how the link is meant to be opened
  })
})

describe('things end', () => {
  it('closes an open WebSocket within a second of its link being revoked', async () => {
    const m = await mint()
    links.push({auth_mode: 'token', expires_at_epoch: now() + 3600, jti: m.jti, revoked: false})
    gw.setLinks(links)
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/socket`, {headers: {authorization: `Bearer ${m.token}`}})
    await new Promise((resolve, reject) => {
      ws.once('message', resolve)
      ws.once('error', reject)
    })
    const closed = within(3000, (done) => ws.once('close', done))
    links = links.map((l) => (l.jti === m.jti ? {...l, revoked: true} : l))
    gw.setLinks(links)
    expect(await closed).toBeLessThan(1000)
  })

  it('closes an open WebSocket when its link expires', async () => {
    const m = await mint()
    links.push({auth_mode: 'token', expires_at_epoch: now() + 2, jti: m.jti, revoked: false})
    gw.setLinks(links)
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/socket`, {headers: {authorization: `Bearer ${m.token}`}})
    await new Promise((resolve, reject) => {
      ws.once('message', resolve)
      ws.once('error', reject)
    })
    expect(await within(5000, (done) => ws.once('close', done))).toBeLessThan(4000)
  })

  it('closes connections that never send a byte after the head timeout, idle ones after the idle timeout, and caps them', async () => {
    const small = await startGateway({
      auth: {jwtKey: key, links, mode: 'token', previewId: ID},
      headTimeoutMs: 400,
      idleTimeoutMs: 700,
      maxConnections: 50,
      targetPort: dev.port,
    })
    const sockets: net.Socket[] = []
    try {
      const closedAt: number[] = []
      const t0 = Date.now()
      for (let i = 0; i < 50; i++) {
        const s = net.connect(small.port, '127.0.0.1')
        s.on('error', () => {})
        s.on('close', () => closedAt.push(Date.now() - t0))
        sockets.push(s)
      }

      await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))))
      // The 51st is answered 503 at once.
      const extra = await raw(small.port, '', 2000)
      expect(extra.text).toMatch(/^HTTP\/1\.1 503 /)
      for (let i = 0; i < 100 && closedAt.length < 50; i++) await new Promise((r) => setTimeout(r, 50))
      expect(closedAt.length).toBe(50)
      expect(Math.max(...closedAt)).toBeLessThan(2500)

      // A keep-alive connection that answered a request and then sits idle is closed after the idle timeout.
      const idle = await new Promise<number>((resolve) => {
        const s = net.connect(small.port, '127.0.0.1', () =>
          s.write(`GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`),
        )
        let t = 0
        s.on('data', () => (t ||= Date.now()))
        s.on('close', () => resolve(Date.now() - t))
      })
      expect(idle).toBeGreaterThanOrEqual(600)
      expect(idle).toBeLessThan(2000)
    } finally {
      for (const s of sockets) s.destroy()
      await small.close()
    }
  })
})
