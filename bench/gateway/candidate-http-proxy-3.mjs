// Candidate: node:http server + http-proxy-3 (the maintained http-proxy), as its README shows: createProxyServer
// with a target, a keep-alive agent and xfwd, proxy.web(req, res) per request.
import http from 'node:http'
import {createProxyServer} from 'http-proxy-3'

const target = Number(process.argv[2])
const host = `localhost:${target}`
// Without an agent http-proxy-3 sends `Connection: close` upstream; the agent keeps connections to the dev server.
const agent = new http.Agent({keepAlive: true, maxSockets: 64})
// Host goes in the `headers` option, not in a 'proxyReq' listener: http-proxy-3 skips 'proxyReq' when the request
// carries `Expect: 100-continue` (any curl upload over 1 KiB), which would leak the public Host upstream. The option
// is merged after xfwd has read req.headers.host, so X-Forwarded-Host keeps the public host.
const proxy = createProxyServer({agent, headers: {host}, target: {host: '127.0.0.1', port: target, protocol: 'http:'}, xfwd: true})
proxy.on('error', (_error, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end()
  else res.destroy()
})

const server = http.createServer((req, res) => {
  if (!String(req.headers.cookie ?? '').includes('preview_')) {
    res.writeHead(401).end()
    return
  }

  delete req.headers.cookie
  proxy.web(req, res)
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`))
