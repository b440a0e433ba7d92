// A real Vite dev server (the one vitest ships) behind the gateway: its host check and its HMR socket both pass
// for a public host, without touching Vite's config.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import type {AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {createServer, type ViteDevServer} from 'vite'
import {afterAll, beforeAll, expect, it} from 'vitest'
import WebSocket from 'ws'
import {mintLink} from '../../src/core/records/credentials.js'
import {startGateway, type Gateway} from '../../src/core/gateway/index.js'
import {request} from './gateway-helpers.js'

const ID = 'p-0000a11e'
const PUBLIC = 'https://abc.example.test'
let dir: string
let vite: ViteDevServer
let gw: Gateway
let cookie: string

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gw-vite-'))
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><html><body><h1>hello from vite</h1></body></html>\n')
  vite = await createServer({
    appType: 'spa',
    configFile: false,
    logLevel: 'silent',
    optimizeDeps: {noDiscovery: true},
    root: dir,
    server: {host: '127.0.0.1', port: 0, strictPort: false},
  })
  await vite.listen()
  const port = (vite.httpServer!.address() as AddressInfo).port
  const key = new Uint8Array(randomBytes(32))
  gw = await startGateway({auth: {jwtKey: key, links: [], mode: 'token', previewId: ID}, targetPort: port})
  gw.setPublicUrl(PUBLIC)
  const link = await mintLink({
    authMode: 'token',
    expiresAtEpoch: Math.floor(Date.now() / 1000) + 600,
    key,
    previewId: ID,
    publicUrl: PUBLIC,
  })
  gw.setLinks([link.record])
  cookie = `preview_${ID}=${new URL(link.url).searchParams.get('token')}`
})

afterAll(async () => {
  await gw?.close()
  await vite?.close()
  rmSync(dir, {force: true, recursive: true})
})

it('Vite refuses the public host directly but serves it through the gateway', async () => {
  const port = (vite.httpServer!.address() as AddressInfo).port
  const direct = await request(`http://127.0.0.1:${port}/`, {headers: {host: 'abc.example.test'}})
  expect(direct.status).toBe(403)
  expect(direct.body).toMatch(/Blocked request/)

  const via = await request(`${gw.url}/`, {headers: {cookie, host: 'abc.example.test', origin: PUBLIC}})
  expect(via.status).toBe(200)
  expect(via.body).toContain('hello from vite')
  expect(via.body).toContain('/@vite/client')
})

it("Vite's HMR socket connects through the gateway with Vite's own ?token=", async () => {
  const client = await request(`${gw.url}/@vite/client`, {headers: {cookie, host: 'abc.example.test'}})
  expect(client.status).toBe(200)
  const wsToken = /const wsToken = "([^"]+)"/.exec(client.body)?.[1]
  expect(wsToken).toBeTruthy()
  const first = await new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/?token=${wsToken}`, 'vite-hmr', {
      headers: {cookie, host: 'abc.example.test'},
      origin: PUBLIC,
    })
    const timer = setTimeout(() => reject(new Error('no HMR message')), 5000)
    ws.on('message', (m) => {
      clearTimeout(timer)
      ws.close()
      resolve(m.toString())
    })
    ws.on('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.on('error', reject)
  })
  expect(JSON.parse(first)).toMatchObject({type: 'connected'})
})
