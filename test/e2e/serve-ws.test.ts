// WebSockets (HMR) through `preview serve`: an upgrade reaches the dev server by Host, and an open socket keeps
// its preview awake past the idle TTL; once it closes, the preview goes idle and a request wakes it.
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {alive, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'
import {request, startServe, type ServeProcess} from '../helpers/serve.js'

const WS_SERVER = `const crypto = require('crypto'); const s = require('http').createServer((q, r) => r.end('ws app'));
s.on('upgrade', (req, socket) => { const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n'); socket.on('error', () => {}) });
s.listen(process.env.PORT, '127.0.0.1', () => console.log('Local: http://localhost:' + process.env.PORT))`

describe('preview serve and WebSockets', () => {
  let repo: TempRepo
  let host: ServeProcess
  const sub = async () => JSON.parse((await request(host.port, 'localhost', '/-/preview.json')).body).sub_servers[0]

  beforeAll(async () => {
    repo = makeRepo({files: {'package.json': '{"name":"ws","private":true}', 'wsserver.js': WS_SERVER}})
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node wsserver.js\n')
    host = await startServe(['.', '--idle-ttl', '2s'], {cwd: repo.dir})
  })

  afterAll(async () => {
    await host?.stop()
    repo.cleanup()
  })

  it('an open socket keeps the preview awake; closed, it goes idle, and a request wakes it', async () => {
    const {default: WebSocket} = await import('ws')
    const socket = new WebSocket(`ws://127.0.0.1:${host.port}/hmr`, {headers: {host: 'main.localhost'}})
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    const before = await sub()
    expect(before.status).toBe('running')
    await new Promise((r) => setTimeout(r, 4500)) // more than twice the TTL, with the socket quiet
    const during = await sub()
    expect(during.status).toBe('running')
    expect(during.pid).toBe(before.pid)
    socket.terminate()
    expect(await waitFor(async () => (await sub()).status === 'idle', 12_000)).toBe(true)
    expect(alive(before.pid)).toBe(false)
    const woken = await request(host.port, 'main.localhost')
    expect(woken.body).toBe('ws app')
  })
})
