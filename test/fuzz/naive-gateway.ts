// A deliberately naive gateway, for the fuzzer's power check: it makes the classic mistakes on purpose, so a
// fuzzer that cannot see them against this one is too weak to vouch for the real one. Its mistakes:
//   - it accepts any correctly signed token anywhere in the head (revoked or expired, in any header, bent around);
//   - it frames the body by Content-Length, then drops every header named in Connection (Content-Length too);
//   - it takes the request line apart on spaces only, so a bare LF in the target travels on.
// Same onForwarded contract as the real gateway.
import {createHmac} from 'node:crypto'
import net from 'node:net'
import type {Forwarded, GatewayUnderTest, StartGateway} from './harness.js'

export const startNaiveGateway: StartGateway = async (opts) => {
  const sockets = new Set<net.Socket>()
  const signed = (head: string) =>
    [...head.matchAll(/([\w-]+\.[\w-]+)\.([\w-]+)/g)].some(
      (m) => createHmac('sha256', opts.auth.jwtKey).update(m[1]!).digest('base64url') === m[2],
    )
  const server = net.createServer((client) => {
    sockets.add(client)
    const up = net.connect({host: '127.0.0.1', port: opts.targetPort})
    sockets.add(up)
    up.on('data', (d) => client.write(d))
    up.on('end', () => client.end())
    up.on('error', () => client.destroy())
    client.on('error', () => up.destroy())
    client.on('end', () => up.end())
    client.on('close', () => up.destroy())
    let buf = Buffer.alloc(0)
    let body: {left: number; parts: Buffer[]; f: Omit<Forwarded, 'body'>} | null = null
    client.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        if (body !== null) {
          const n = Math.min(body.left, buf.length)
          body.parts.push(buf.subarray(0, n))
          up.write(buf.subarray(0, n))
          buf = buf.subarray(n)
          body.left -= n
          if (body.left > 0) return
          opts.onForwarded({...body.f, body: Buffer.concat(body.parts)})
          body = null
        }

        const end = buf.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = buf.toString('latin1', 0, end)
        buf = buf.subarray(end + 4)
        const [requestLine = '', ...lines] = head.split('\r\n')
        const [method = '', target = '', version = ''] = requestLine.split(' ')
        if (opts.auth.mode !== 'none' && !signed(head)) {
          client.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
          up.destroy()
          return
        }

        let headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()])
        const length = Number(headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1] ?? 0) || 0
        const named = headers
          .filter(([n]) => n.toLowerCase() === 'connection')
          .flatMap(([, v]) =>
            v
              .toLowerCase()
              .split(',')
              .map((t) => t.trim()),
          )
        headers = headers.filter(([n]) => !named.includes(n.toLowerCase()) || n.toLowerCase() === 'connection')
        up.write(`${method} ${target} ${version}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`)
        const f = {headers, method, target}
        if (length === 0) opts.onForwarded({...f, body: Buffer.alloc(0)})
        else body = {f, left: length, parts: []}
      }
    })
  })
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const gw: GatewayUnderTest = {
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
      })
    },
    port: (server.address() as net.AddressInfo).port,
    setPublicUrl() {},
  }
  return gw
}
