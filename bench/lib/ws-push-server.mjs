// The HMR stand-in for bench/hmr.mjs: an HTTP server with a WebSocket endpoint (ws), like a dev server's HMR socket.
// A text message "echo:<payload>" is sent straight back; "push:<n>:<intervalMs>" makes the server push n small
// messages "t:<epoch ms, fractional>" at that interval (server push, as an HMR update is). Listens on PORT/HOST.
import http from 'node:http'
import {WebSocketServer} from 'ws'

const port = Number(process.env.PORT || 3000)
const server = http.createServer((req, res) => res.end('ws push fixture\n'))
const wss = new WebSocketServer({server})
const now = () => performance.timeOrigin + performance.now()

wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const text = data.toString()
    if (text.startsWith('echo:')) {
      ws.send(text)
      return
    }

    const m = /^push:(\d+):(\d+)$/.exec(text)
    if (!m) return
    let left = Number(m[1])
    const timer = setInterval(() => {
      if (left-- <= 0 || ws.readyState !== ws.OPEN) {
        clearInterval(timer)
        if (ws.readyState === ws.OPEN) ws.send('done')
        return
      }

      ws.send(`t:${now()}`)
    }, Number(m[2]))
  })
})

server.listen(port, process.env.HOST || '127.0.0.1', () => console.log(`Server listening on http://localhost:${port}`))
