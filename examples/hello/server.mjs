// A tiny dev server for the demo: honours PORT and HOST like real dev servers, prints a Local: line.
import http from 'node:http'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
const started = new Date().toISOString()

http
  .createServer((req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.end(`<!doctype html><title>preview demo</title>
<h1>Hello from preview</h1>
<p>This page is served by <code>examples/hello/server.mjs</code> through the preview gateway.</p>
<p>Host seen by the dev server: <code>${req.headers.host}</code>; public host: <code>${req.headers['x-forwarded-host'] ?? '-'}</code></p>
<p>Started ${started}.</p>`)
  })
  .listen(port, host, () => {
    console.log(`  ➜  Local:   http://localhost:${port}/`)
  })
