// Loopback probes shared by `preview start`, the supervisor and `preview serve`'s runners: does anything accept a
// TCP connection on a port, is the address a dev server printed really its own, and a free port to hand one.
import net from 'node:net'
import type {PortCandidate} from './discovery/port-capture.js'

/** True when host:port accepts a TCP connection within timeoutMs. */
export function tcpProbe(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({host, port})
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }

    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Connects to where the output said the server is (IPv6 loopback when it said so, and as a fallback). */
export function probeCandidate(candidate: PortCandidate): Promise<boolean> {
  const host = candidate.host === '::1' || candidate.host === '::' ? '::1' : '127.0.0.1'
  return tcpProbe(candidate.port, host, 500).then((ok) => ok || (host === '::1' ? false : tcpProbe(candidate.port, '::1', 500)))
}

/** A free TCP port on 127.0.0.1 (the dev server's PORT). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}
