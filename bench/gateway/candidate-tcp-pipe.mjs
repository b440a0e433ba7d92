// Ceiling: a raw TCP pipe with no HTTP awareness at all (no auth, no Host rewrite). Not a candidate, a yardstick.
import net from 'node:net'

const target = Number(process.argv[2])
const server = net.createServer({noDelay: true}, (c) => {
  const u = net.connect({host: '127.0.0.1', noDelay: true, port: target})
  c.pipe(u).pipe(c)
  c.on('error', () => u.destroy())
  u.on('error', () => c.destroy())
})
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`))
