import {createServer} from 'node:http'
import {describe, expect, it} from 'vitest'
import {probePublicUrl} from '../../src/core/tunnels/probe.js'
import {origin} from '../fakes/helpers.js'

describe('public URL probe', () => {
  it('returns null once the URL answers', async () => {
    const o = await origin()
    expect(await probePublicUrl(o.url, {timeoutMs: 2000})).toBeNull()
    o.server.close()
  })

  it('keeps trying through 5xx until the tunnel routes, within the bound', async () => {
    let n = 0
    const server = createServer((_req, res) => {
      n++
      res.writeHead(n < 3 ? 502 : 200).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as {port: number}).port
    expect(await probePublicUrl(`http://127.0.0.1:${port}/`, {intervalMs: 50, timeoutMs: 3000})).toBeNull()
    expect(n).toBe(3)
    server.close()
  })

  it('warns instead of failing when DNS never resolves, and respects its bound', async () => {
    const started = Date.now()
    let lookups = 0
    const warning = await probePublicUrl('https://not-yet.trycloudflare.com', {
      intervalMs: 100,
      resolve: async () => {
        lookups++
        throw Object.assign(new Error('queryA ENOTFOUND'), {code: 'ENOTFOUND'})
      },
      timeoutMs: 700,
    })
    expect(Date.now() - started).toBeLessThan(3000) // bounded: 700 ms budget, generous for a loaded machine
    expect(lookups).toBeGreaterThan(1)
    expect(warning).toMatch(/did not answer within 1s \(DNS: ENOTFOUND\)/)
  })

  it('warns when nothing listens', async () => {
    const o = await origin()
    const url = o.url
    await new Promise<void>((r) => o.server.close(() => r()))
    const warning = await probePublicUrl(url, {intervalMs: 50, timeoutMs: 500})
    expect(warning).toMatch(/ECONNREFUSED/)
  })
})
