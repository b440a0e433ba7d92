// `preview serve` in front of a dev server that ignores PORT and listens where it likes (it prints its URL, as most
// do): the host finds that port in its output, and the dev server is sent `Host: localhost:<its own port>`, the
// only Host a Vite-style host check accepts. The request head is built after the on-demand start, not before.
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {makeRepo, type TempRepo} from '../helpers/repo.js'
import {request, startServe, type ServeProcess} from '../helpers/serve.js'

// Listens on a port of its own choosing (never PORT), refuses any Host but its own like Vite 6+.
const OWN_PORT_SERVER = `const http = require('node:http')
const server = http.createServer((req, res) => {
  const own = 'localhost:' + server.address().port
  if (req.headers.host !== own) {
    res.writeHead(403)
    return res.end('Blocked request. This host (' + req.headers.host + ') is not allowed.')
  }
  res.end('own port ok host=' + req.headers.host)
})
server.listen(0, '127.0.0.1', () => console.log('  Local: http://localhost:' + server.address().port + '/'))
`

describe('preview serve, a dev server that ignores PORT', () => {
  let repo: TempRepo
  let host: ServeProcess

  beforeAll(async () => {
    repo = makeRepo({files: {'own-port.js': OWN_PORT_SERVER}})
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node own-port.js\n')
    host = await startServe(['.'], {cwd: repo.dir})
  })

  afterAll(async () => {
    await host?.stop()
    repo.cleanup()
  })

  it('gets its first request, and the next, with its own port in Host', async () => {
    const first = await request(host.port, 'main.localhost')
    expect(first.body).toMatch(/^own port ok host=localhost:\d+$/)
    expect(first.status).toBe(200)
    const status = JSON.parse((await request(host.port, 'localhost', '/-/preview.json')).body) as {sub_servers: {port: number}[]}
    expect(first.body).toBe(`own port ok host=localhost:${status.sub_servers[0]!.port}`)
    expect((await request(host.port, 'main.localhost')).body).toBe(first.body)
  })
})
