// The listener: one TCP server whose connections route each request by Host (host mode serves many previews on one
// port; a single preview is one default route). It caps concurrent client connections and runs one sweep timer
// for every connection: head timeout, idle timeout, and credentials revoked or expired (open sockets included).
import net from 'node:net'
import {Authority, type GatewayAuth} from './auth.js'
import {Connection} from './connection.js'
import type {RequestHead} from './parse.js'
import type {ListenerContext, RequestRecord, Route} from './types.js'

/** How long a request head may take to arrive once it has started, or a new connection to send one (slow loris). */
export const HEAD_TIMEOUT_MS = 30_000
/** A connection with no request in flight and no byte either way for this long is closed (config gateway.idle_timeout). */
export const IDLE_TIMEOUT_MS = 65_000
/** Concurrent client connections per listener; the next one is answered 503. */
export const MAX_CONNECTIONS = 1024
/** How often the sweep runs: a revoked or expired link's sockets close within this (plus the links poll). */
export const SWEEP_MS = 200

export interface ListenerOptions {
  bindHost?: string | undefined
  port?: number | undefined
  headTimeoutMs?: number | undefined
  idleTimeoutMs?: number | undefined
  maxConnections?: number | undefined
  resolveRoute(host: string | null, head?: RequestHead): Route | null
  onRequest?: ((r: RequestRecord, route: Route | null) => void) | undefined
}

export interface Listener {
  readonly port: number
  /** http://HOST:PORT */
  readonly url: string
  /** Open client connections. */
  connections(): Iterable<Connection>
  /** Runs the sweep now (after links changed: revoked sockets close at once). */
  sweep(): void
  close(): Promise<void>
}

export async function startListener(opts: ListenerOptions): Promise<Listener> {
  const ctx: ListenerContext = {
    headTimeoutMs: opts.headTimeoutMs ?? HEAD_TIMEOUT_MS,
    idleTimeoutMs: opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    listenPort: 0,
    onRequest: opts.onRequest,
    resolveRoute: opts.resolveRoute,
  }
  const max = opts.maxConnections ?? MAX_CONNECTIONS
  const connections = new Set<Connection>()
  let timer: NodeJS.Timeout | null = null
  const sweep = (): void => {
    const now = Date.now()
    for (const c of connections) c.sweep(now)
  }

  const server = net.createServer({allowHalfOpen: true, noDelay: true}, (socket) => {
    if (connections.size >= max) {
      socket.on('error', () => {})
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 30\r\nRetry-After: 1\r\nConnection: close\r\n\r\nToo many connections; retry.\r\n',
      )
      setTimeout(() => socket.destroy(), 1000).unref()
      return
    }

    const conn = new Connection(socket, ctx)
    connections.add(conn)
    socket.once('close', () => {
      connections.delete(conn)
      if (connections.size === 0 && timer) {
        clearInterval(timer)
        timer = null
      }
    })
    if (timer === null) {
      timer = setInterval(sweep, Math.min(SWEEP_MS, Math.max(20, ctx.headTimeoutMs / 4)))
      timer.unref()
    }
  })
  const bindHost = opts.bindHost ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, bindHost, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  ctx.listenPort = port
  const urlHost = bindHost === '0.0.0.0' || bindHost === '::' ? '127.0.0.1' : bindHost.includes(':') ? `[${bindHost}]` : bindHost
  return {
    async close() {
      const closed = new Promise<void>((resolve) => {
        server.close(() => resolve())
      })
      for (const c of connections) c.destroy()
      connections.clear()
      if (timer) clearInterval(timer)
      timer = null
      await closed
    },
    connections: () => connections,
    port,
    sweep,
    url: `http://${urlHost}:${port}`,
  }
}

export interface RouteOptions {
  onActivity?: (() => void) | undefined
  ensureUpstream?: (() => Promise<void>) | undefined
  onForwarded?: Route['onForwarded']
}

export function makeRoute(auth: GatewayAuth, targetPort: number, opts: RouteOptions = {}): Route {
  return {
    authority: new Authority(auth),
    ensureUpstream: opts.ensureUpstream,
    onActivity: opts.onActivity,
    onForwarded: opts.onForwarded,
    publicHost: null,
    publicOrigin: null,
    publicProto: 'http',
    secureCookie: false,
    targetPort,
  }
}

/** The public origin of a route: cookie Secure flag, Origin check, X-Preview-Public-* headers. */
export function setRoutePublicUrl(route: Route, url: string): void {
  const u = new URL(url)
  route.publicOrigin = u.origin
  route.publicHost = u.host
  route.publicProto = u.protocol.replace(':', '')
  route.secureCookie = u.protocol === 'https:'
}
