// Candidate: node:http server + an undici Pool to the dev server, streaming the response with pool.stream(), the
// pattern undici's docs give for proxying into a server response (opaque = the response, no closure per request).
import http from 'node:http'
import {Pool} from 'undici'

const target = Number(process.argv[2])
// Keep-alive is built in; pipelining 1 because a dev server is not known to be safe with pipelined requests.
// bodyTimeout 0: SSE and long downloads must not be cut off by the client.
const pool = new Pool(`http://127.0.0.1:${target}`, {bodyTimeout: 0, connections: 64, pipelining: 1})
const host = `localhost:${target}`
// undici refuses hop-by-hop request headers (connection, keep-alive, upgrade, transfer-encoding) and `expect` (node's
// server has already answered 100-continue), and the server side must not copy the upstream's either: each hop
// speaks its own framing.
const HOP = new Set(['connection', 'expect', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

function forwardHeaders(raw, rewrite) {
  const out = {}
  for (const [k, v] of Object.entries(raw)) if (!HOP.has(k)) out[k] = v
  return rewrite ? rewrite(out) : out
}

const factory = ({headers, opaque: res, statusCode}) => {
  res.writeHead(statusCode, forwardHeaders(headers))
  return res
}

const server = http.createServer((req, res) => {
  if (!String(req.headers.cookie ?? '').includes('preview_')) {
    res.writeHead(401).end()
    return
  }

  const headers = forwardHeaders(req.headers, (h) => {
    h.host = host
    delete h.cookie
    return h
  })
  // A request without a body must not be sent upstream as an empty chunked stream.
  const body = req.headers['content-length'] || req.headers['transfer-encoding'] ? req : null
  pool.stream({body, headers, method: req.method, opaque: res, path: req.url}, factory, (error) => {
    if (error) {
      if (res.headersSent) res.destroy()
      else res.writeHead(502).end()
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`))
