// Candidate: node:http server + http.request with a keep-alive agent, the textbook Node proxy (auth check included).
import http from 'node:http'

const target = Number(process.argv[2])
const agent = new http.Agent({keepAlive: true, maxSockets: 64})
const server = http.createServer((req, res) => {
  if (!String(req.headers.cookie ?? '').includes('preview_')) {
    res.writeHead(401).end()
    return
  }

  const headers = {...req.headers, host: `localhost:${target}`}
  delete headers.cookie
  const up = http.request({agent, headers, host: '127.0.0.1', method: req.method, path: req.url, port: target}, (ur) => {
    res.writeHead(ur.statusCode ?? 502, ur.headers)
    ur.pipe(res)
  })
  up.on('error', () => res.destroy())
  req.pipe(up)
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`))
