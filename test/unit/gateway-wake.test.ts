// A route whose dev server port is only known once its ensureUpstream hook ran (an on-demand start or an idle
// wake that lands on a new port): the request head the dev server gets is built after the wake, so its Host,
// Origin and X-Forwarded-Host name the new port, and the connection goes there. The fixture checks Host like
// Vite and webpack-dev-server do: a stale port is refused (403), over HTTP and on the WebSocket alike.
import {randomBytes} from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import WebSocket from 'ws'
import {startGateway, type ForwardedRequest, type Gateway} from '../../src/core/gateway/index.js'
import {mintLink} from '../../src/core/records/credentials.js'
import {request, startDevServer, type DevServer} from './gateway-helpers.js'

const none = {jwtKey: new Uint8Array(32), links: [], mode: 'none' as const, previewId: 'p-wake0000'}

/** A port nothing listens on: the port the route was made with, before the wake moved it. */
async function stalePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

/** Raw bytes in (then our end of the connection, with `halfClose`), everything the gateway sends back until it closes (bounded). */
function raw(port: number, text: string, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => (halfClose ? s.end(text) : s.write(text)))
    let out = ''
    s.on('data', (d: Buffer) => (out += d.toString('latin1')))
    s.on('close', () => resolve(out))
    s.on('error', reject)
    s.setTimeout(5000, () => s.destroy())
  })
}

describe('a route whose target port is set by its ensureUpstream', () => {
  const closers: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })

  /** A gateway whose route points at a dead port until the first connection wakes it: the dev server starts then. */
  async function wakingGateway(
    opts: {onForwarded?: (r: ForwardedRequest) => void} = {},
  ): Promise<{gw: Gateway; dev: () => DevServer; wakes: () => number}> {
    let dev: DevServer | null = null
    let wakes = 0
    const gw: Gateway = await startGateway({
      auth: none,
      async ensureUpstream() {
        wakes += 1
        if (dev === null) {
          await new Promise((resolve) => setTimeout(resolve, 50)) // the start takes a while: requests queue meanwhile
          dev = await startDevServer()
          closers.push(() => dev!.close())
        }

        gw.setTargetPort(dev.port)
      },
      onForwarded: opts.onForwarded,
      targetPort: await stalePort(),
    })
    closers.push(() => gw.close())
    return {dev: () => dev!, gw, wakes: () => wakes}
  }

  it('sends the first request to the new port with the new Host, Origin and X-Forwarded-Host', async () => {
    const {dev, gw} = await wakingGateway()
    const r = await request(`${gw.url}/echo`, {headers: {origin: gw.url}})
    expect(r.status).toBe(200)
    const seen = JSON.parse(r.body) as {headers: http.IncomingHttpHeaders}
    const local = `localhost:${dev().port}`
    expect(seen.headers.host).toBe(local)
    expect(seen.headers.origin).toBe(`http://${local}`)
    expect(seen.headers['x-forwarded-host']).toBe(local)
  })

  it('builds every head queued behind the wake (pipelined, with a body) for the new port, and the observer sees what was sent', async () => {
    const forwarded: ForwardedRequest[] = []
    const {dev, gw} = await wakingGateway({onForwarded: (f) => forwarded.push(f)})
    const out = await raw(
      gw.port,
      'POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /echo?two HTTP/1.1\r\nHost: a.test\r\n\r\n' +
        'GET /echo?three HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
    )
    const local = `localhost:${dev().port}`
    expect(out.match(/^HTTP\/1\.1 200 /gm)?.length).toBe(3)
    expect(out).not.toContain('Blocked request')
    expect(dev().seen.map((s) => [s.method, s.url, s.headers.host])).toEqual([
      ['POST', '/echo', local],
      ['GET', '/echo?two', local],
      ['GET', '/echo?three', local],
    ])
    expect(forwarded.map((f) => [f.method, f.target, f.headers.find(([k]) => k === 'Host')?.[1], f.body.toString()])).toEqual([
      ['POST', '/echo', local, 'hello'],
      ['GET', '/echo?two', local, ''],
      ['GET', '/echo?three', local, ''],
    ])
  })

  it("passes a client's end on after the requests it queued behind the wake: they are answered, not dropped", async () => {
    const {dev, gw} = await wakingGateway()
    const out = await raw(gw.port, 'GET /echo?one HTTP/1.1\r\nHost: a.test\r\n\r\nGET /echo?two HTTP/1.1\r\nHost: a.test\r\n\r\n', true)
    expect(out.match(/^HTTP\/1\.1 200 /gm)?.length).toBe(2)
    expect(dev().seen.map((s) => s.url)).toEqual(['/echo?one', '/echo?two'])
  })

  it('answers the requests queued behind the wake before refusing a later one on the same connection', async () => {
    const {dev, gw} = await wakingGateway()
    const out = await raw(
      gw.port,
      'HEAD /echo?one HTTP/1.1\r\nHost: a.test\r\n\r\n' +
        'POST /echo?two HTTP/1.1\r\nHost: a.test\r\nOrigin: http://evil.test\r\nContent-Length: 0\r\n\r\n',
    )
    // The client reads the answers in order: the dev server's to the HEAD (no body), then the gateway's refusal.
    expect(out).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nHTTP\/1\.1 403 Forbidden\r\n[^]*\r\n\r\nCross-origin request refused\./)
    expect(dev().seen.map((s) => s.url)).toEqual(['/echo?one'])
  })

  it('answers 503 when the wake fails, also with a refusal waiting behind the queued request', async () => {
    const gw = await startGateway({
      auth: none,
      ensureUpstream: () => new Promise((_resolve, reject) => setTimeout(() => reject(new Error('no start')), 50)),
      targetPort: await stalePort(),
    })
    closers.push(() => gw.close())
    expect(await raw(gw.port, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')).toMatch(/^HTTP\/1\.1 503 /)
    const both = await raw(
      gw.port,
      'GET / HTTP/1.1\r\nHost: a.test\r\n\r\nPOST / HTTP/1.1\r\nHost: a.test\r\nOrigin: http://evil.test\r\nContent-Length: 0\r\n\r\n',
    )
    expect(both).toMatch(/^HTTP\/1\.1 503 /)
  })

  it('opens a WebSocket through the wake with the new Host and Origin (HMR sockets check both)', async () => {
    const {dev, gw, wakes} = await wakingGateway()
    const got = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/hmr`, {origin: gw.url})
      const timer = setTimeout(() => reject(new Error('websocket timed out')), 5000)
      ws.on('message', (m) => {
        clearTimeout(timer)
        ws.close()
        resolve(m.toString())
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
    expect(got).toBe('hello /hmr')
    expect(dev().seen[0]?.headers.host).toBe(`localhost:${dev().port}`)
    expect(wakes()).toBe(1)
  })
})

describe('a script response through a wake', () => {
  it("rewrites webpack-dev-server's socket port of the new port, not of the stale one", async () => {
    const closers: (() => Promise<unknown>)[] = []
    try {
      let port = 0
      const dev = http.createServer((_req, res) => {
        res.writeHead(200, {'content-type': 'application/javascript'})
        res.end(`var url = "ws://x/?hostname=0.0.0.0&port=${port}&pathname=/ws";`)
      })
      await new Promise<void>((resolve) => dev.listen(0, '127.0.0.1', () => resolve()))
      port = (dev.address() as net.AddressInfo).port
      closers.push(() => new Promise((resolve) => dev.close(resolve)))
      const gw: Gateway = await startGateway({
        auth: none,
        async ensureUpstream() {
          gw.setTargetPort(port)
        },
        targetPort: await stalePort(),
      })
      closers.push(() => gw.close())
      const r = await request(`${gw.url}/main.js`)
      expect(r.status).toBe(200)
      expect(r.body).toContain('hostname=0.0.0.0&port=0&')
      expect(r.body).not.toContain(`port=${port}&`)
    } finally {
      for (const c of closers.reverse()) await c()
    }
  })
})

describe('a link that expires while its request waits for the wake', () => {
  it('the queued request never reaches the dev server: checked when the wake ends, not at the next sweep', async () => {
    const key = new Uint8Array(randomBytes(32))
    const expiresAt = Math.floor(Date.now() / 1000) + 1
    const m = await mintLink({authMode: 'token', expiresAtEpoch: expiresAt, key, previewId: 'p-wake0001', publicUrl: 'http://127.0.0.1:1/'})
    const token = new URL(m.url).searchParams.get('token')!
    const dev = await startDevServer()
    const gw = await startGateway({
      auth: {jwtKey: key, links: [m.record], mode: 'token', previewId: 'p-wake0001'},
      // The wake ends a few ms after the link's expiry: before the sweep (every 500 ms) can have looked, nearly always.
      async ensureUpstream() {
        const deadline = Date.now() + 5000
        while (Date.now() < expiresAt * 1000 + 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1))
        gw.setTargetPort(dev.port)
      },
      targetPort: await stalePort(),
    })
    try {
      const r = await raw(gw.port, `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nAuthorization: Bearer ${token}\r\n\r\n`)
      expect(dev.seen).toEqual([])
      expect(r).not.toContain('HTTP/1.1 200')
    } finally {
      await gw.close()
      await dev.close()
    }
  })
})
