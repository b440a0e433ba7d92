// The listener hands resolveRoute the request head as well as its Host (host mode routes browsers to a
// "starting" page by their Accept header): a route chosen on the head serves that request.
import http from 'node:http'
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {makeRoute, startListener, type Listener} from '../../src/core/gateway/index.js'
import type {RequestHead} from '../../src/core/gateway/parse.js'

const none = {jwtKey: new Uint8Array(32), links: [], mode: 'none' as const, previewId: 'p-test0000'}

function app(body: string): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.end(body))
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

function get(port: number, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({agent: false, headers, host: '127.0.0.1', path: '/x', port}, (res) => {
      let b = ''
      res.on('data', (d) => (b += d))
      res.on('end', () => resolve(b))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('listener resolveRoute(host, head)', () => {
  const closers: (() => unknown)[] = []
  afterEach(async () => {
    for (const c of closers.splice(0)) await c()
  })

  it('passes the parsed head, and the route it picks from it serves the request', async () => {
    const pages = await app('page')
    const other = await app('other')
    closers.push(
      () => pages.close(),
      () => other.close(),
    )
    const seen: (RequestHead | undefined)[] = []
    const htmlRoute = makeRoute(none, (pages.address() as net.AddressInfo).port)
    const plainRoute = makeRoute(none, (other.address() as net.AddressInfo).port)
    const listener: Listener = await startListener({
      resolveRoute(host, head) {
        seen.push(head)
        const accept = head?.headers.find(([k]) => k.toLowerCase() === 'accept')?.[1] ?? ''
        return host === 'a.localhost' ? (accept.includes('text/html') ? htmlRoute : plainRoute) : null
      },
    })
    closers.push(() => listener.close())
    expect(await get(listener.port, {accept: 'text/html', host: 'a.localhost'})).toBe('page')
    expect(await get(listener.port, {accept: '*/*', host: 'a.localhost'})).toBe('other')
    expect(seen[0]).toMatchObject({host: 'a.localhost', method: 'GET', target: '/x'})
  })
})
