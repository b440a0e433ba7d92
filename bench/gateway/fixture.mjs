// The dev server stand-in for the benchmark: a small JSON-ish body on every request, like a dev server's API route.
import http from 'node:http'

const port = Number(process.argv[2] ?? 0)
const body = Buffer.from(JSON.stringify({hello: 'world', items: Array.from({length: 20}, (_, i) => i)}))
const server = http.createServer((req, res) => {
  res.writeHead(200, {'content-length': body.length, 'content-type': 'application/json'})
  res.end(body)
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`))
