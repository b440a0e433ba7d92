// The cheapest dev server there is: a raw TCP server that answers every GET with a canned `hello` (no HTTP library),
// so what is measured through a proxy is almost only the proxy's own cost per request.
import net from 'node:net'

const port = Number(process.argv[2] ?? 0)
const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello')
const server = net.createServer((socket) => {
  let tail = ''
  socket.setNoDelay(true)
  socket.on('data', (d) => {
    // Requests here are bodiless GETs: one response per blank line that ends a head.
    const text = tail + d.toString('latin1')
    let n = 0
    let i = text.indexOf('\r\n\r\n')
    let last = 0
    while (i !== -1) {
      n += 1
      last = i + 4
      i = text.indexOf('\r\n\r\n', last)
    }

    tail = text.slice(last)
    if (n === 1) socket.write(response)
    else if (n > 1) socket.write(Buffer.concat(Array.from({length: n}, () => response)))
  })
  socket.on('error', () => {})
})
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`))
