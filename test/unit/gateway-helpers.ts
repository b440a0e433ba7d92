// Shared fixtures for the gateway tests: a dev server that checks Host like Vite does, and a small HTTP client.
import {createHash} from 'node:crypto'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {WebSocketServer} from 'ws'

export interface SeenRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
}

export interface DevServer {
  port: number
  seen: SeenRequest[]
  close(): Promise<void>
}

/** Vite 6+'s rule: a Host that is not local is refused, on HTTP and on the HMR socket alike. */
function hostAllowed(host: string | undefined, port: number): boolean {
  return host === `localhost:${port}` || host === `127.0.0.1:${port}`
}

/**
 * A dev server fixture. Routes: /echo (the request head as JSON), /upload (SHA-256 of the body),
 * /download?mb=N (N MiB of deterministic bytes), /sse (three events 150 ms apart); a WebSocket echo on any path.
 */
export async function startDevServer(): Promise<DevServer> {
  const seen: SeenRequest[] = []
  let port = 0
  const server = http.createServer((req, res) => {
    seen.push({headers: req.headers, method: req.method ?? '', url: req.url ?? ''})
    if (!hostAllowed(req.headers.host, port)) {
      res.writeHead(403, {'content-type': 'text/plain'})
      res.end(`Blocked request. This host (${JSON.stringify(req.headers.host)}) is not allowed.`)
      return
    }

    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/upload') {
      const hash = createHash('sha256')
      let bytes = 0
      req.on('data', (d: Buffer) => {
        hash.update(d)
        bytes += d.length
      })
      req.on('end', () => {
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(JSON.stringify({bytes, sha256: hash.digest('hex')}))
      })
      return
    }

    if (url.pathname === '/download') {
      const mb = Number(url.searchParams.get('mb') ?? '1')
      res.writeHead(200, {'content-length': String(mb * 1024 * 1024), 'content-type': 'application/octet-stream'})
      let i = 0
      const write = (): void => {
        while (i < mb) {
          const ok = res.write(blockOf(i++))
          if (!ok) {
            res.once('drain', write)
            return
          }
        }

        res.end()
      }

      write()
      return
    }

    if (url.pathname === '/sse') {
      res.writeHead(200, {'cache-control': 'no-cache', 'content-type': 'text/event-stream'})
      let n = 0
      const timer = setInterval(() => {
        res.write(`data: ${n}\n\n`)
        n += 1
        if (n === 3) {
          clearInterval(timer)
          res.end()
        }
      }, 150)
      req.on('close', () => clearInterval(timer))
      return
    }

    req.resume()
    req.on('end', () => {
      res.writeHead(200, {'content-type': 'application/json', 'set-cookie': 'app=1; Path=/'})
      res.end(JSON.stringify({headers: req.headers, method: req.method, url: req.url}))
    })
  })
  const wss = new WebSocketServer({noServer: true})
  server.on('upgrade', (req, socket, head) => {
    seen.push({headers: req.headers, method: req.method ?? '', url: req.url ?? ''})
    const origin = req.headers.origin
    // webpack-dev-server refuses a socket whose Host or Origin is not local ("Invalid Host/Origin header").
    if (!hostAllowed(req.headers.host, port) || (origin !== undefined && origin !== `http://localhost:${port}`)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
      return
    }

    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(`hello ${req.url}`)
      ws.on('message', (m, isBinary) => ws.send(m, {binary: isBinary}))
    })
  })
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve())
  })
  port = (server.address() as AddressInfo).port
  return {
    async close() {
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
      })
    },
    port,
    seen,
  }
}

/** The i-th MiB of the download fixture: cheap, deterministic and not all the same byte. */
export function blockOf(i: number): Buffer {
  const b = Buffer.alloc(1024 * 1024, i % 251)
  b.writeUInt32BE(i, 0)
  return b
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  reusedSocket: boolean
}

/** One request, no redirects followed, body read to the end. */
export function request(
  url: string,
  opts: {method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent} = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {agent: opts.agent ?? false, headers: opts.headers, method: opts.method ?? 'GET'}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () =>
        resolve({
          body: Buffer.concat(chunks).toString('utf8'),
          headers: res.headers,
          reusedSocket: req.reusedSocket,
          status: res.statusCode ?? 0,
        }),
      )
      res.on('error', reject)
    })
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.end(opts.body)
  })
}
