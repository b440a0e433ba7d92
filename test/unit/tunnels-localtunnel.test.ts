import {createServer as createHttp, type Server} from 'node:http'
import {createServer as createTcp, type Socket} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {TunnelFailed} from '../../src/core/errors.js'
import {localtunnelDriver, localtunnelHost} from '../../src/core/tunnels/drivers/localtunnel.js'
import type {TunnelHandle} from '../../src/core/tunnels/types.js'
import {origin, until} from '../fakes/helpers.js'

/**
 * A self-hosted localtunnel server in miniature (the protocol of localtunnel/server): GET /?new hands out
 * {id, port, max_conn_count, url}; the client then dials that TCP port and carries raw HTTP for us.
 */
async function fakeLtServer() {
  const sockets: Socket[] = []
  const tcp = createTcp((s) => sockets.push(s))
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()))
  const tcpPort = (tcp.address() as {port: number}).port
  let requests = 0
  const http: Server = createHttp((req, res) => {
    requests++
    if (req.url === '/?new') {
      res
        .writeHead(200, {'content-type': 'application/json'})
        .end(JSON.stringify({id: 'brave-fox-42', max_conn_count: 2, port: tcpPort, url: 'https://brave-fox-42.lt.example.test'}))
    } else res.writeHead(404).end()
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()))
  const host = `http://127.0.0.1:${(http.address() as {port: number}).port}`
  return {
    close() {
      for (const s of sockets) s.destroy()
      tcp.close()
      http.close()
    },
    host,
    requests: () => requests,
    sockets,
  }
}

/** Sends one raw HTTP request down a tunnel socket, as the server does for a visitor. */
async function through(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let data = ''
    socket.on('data', (c) => {
      data += c.toString()
      if (/\r\n\r\n[\s\S]*(page|unauthorized)/.test(data)) resolve(data)
    })
    socket.write(`GET ${path} HTTP/1.1\r\nHost: brave-fox-42.lt.example.test\r\nConnection: keep-alive\r\n\r\n`)
  })
}

describe('localtunnel driver', () => {
  const cleanups: Array<() => unknown> = []
  const handles: TunnelHandle[] = []
  afterEach(async () => {
    for (const h of handles.splice(0)) await h.close()
    for (const c of cleanups.splice(0)) await c()
  })

  it('validates providers.localtunnel.host', () => {
    expect(localtunnelHost({})).toBe('https://localtunnel.me')
    expect(localtunnelHost({host: 'https://lt.example.com/'})).toBe('https://lt.example.com')
    expect(() => localtunnelHost({host: 'ftp://x'})).toThrow(/http/)
  })

  it('opens against a self-hosted server and carries requests to the gateway', async () => {
    const server = await fakeLtServer()
    cleanups.push(() => server.close())
    const gw = await origin('page')
    cleanups.push(() => gw.server.close())
    const h = await localtunnelDriver.open({config: {host: server.host}, env: {}, gatewayPort: gw.port, localUrl: gw.url, timeoutMs: 5000})
    handles.push(h)
    expect(h.publicUrl).toBe('https://brave-fox-42.lt.example.test')
    expect(await until(() => server.sockets.length >= 1, 3000)).toBe(true)
    const reply = await through(server.sockets[0]!, '/hello')
    expect(reply).toMatch(/^HTTP\/1\.1 200/)
    expect(reply).toContain('page /hello')
    await h.close()
    expect(await until(() => server.sockets.every((s) => s.destroyed || s.readableEnded), 3000)).toBe(true)
  })

  it('bounds start-up when the server never answers, and stops asking afterwards', async () => {
    let attempts = 0
    const dead = createHttp((req) => {
      attempts++
      req.socket.destroy()
    })
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()))
    cleanups.push(() => dead.close())
    const started = Date.now()
    const err = (await localtunnelDriver
      .open({
        config: {host: `http://127.0.0.1:${(dead.address() as {port: number}).port}`},
        env: {},
        gatewayPort: 1,
        localUrl: 'http://127.0.0.1:1',
        timeoutMs: 1500,
      })
      .catch((x: unknown) => x)) as TunnelFailed
    expect(err).toBeInstanceOf(TunnelFailed)
    expect(err.reason).toBe('timeout')
    expect(Date.now() - started).toBeLessThan(4000)
    expect(attempts).toBeGreaterThan(0)
    const after = attempts
    await new Promise((r) => setTimeout(r, 1500))
    expect(attempts).toBe(after)
  })
})
