// The auth gateway: every tunnel points here. It checks the link (token, basic or none), rewrites Host/Origin so
// dev servers accept requests for a public host, and streams bytes both ways, WebSocket upgrades included.
// Parts: parse.ts (request heads, strict RFC 9112), framer.ts (bodies), headers.ts (what goes upstream),
// auth.ts (links, cookies, our credentials), admission.ts (may a request in), answers.ts (our own responses),
// connection.ts (the pump), upstream.ts (the dev server side, the wake queue), listener.ts (routes by Host, sweep).
//
// Why hand-written instead of node:http + http.request: in bench/gateway (bench/RESULTS.md) that pair reaches about
// a third of nginx's throughput on these machines, this design more than half; test/fuzz/ holds its parser against
// Node's own (llhttp) so the speed does not cost correctness.
import type {LinkRecord} from '../records/types.js'
import type {GatewayAuth} from './auth.js'
import {makeRoute, setRoutePublicUrl, startListener} from './listener.js'
import type {ForwardedRequest, RequestRecord} from './types.js'

export {Authority, COOKIE_PREFIX, RELOAD_MIN_MS, type GatewayAuth, type RefusalKind} from './auth.js'
export {HALF_CLOSE_MS, REFUSAL_HEADER} from './connection.js'
export {PUBLIC_HOST_HEADER, PUBLIC_PROTO_HEADER} from './headers.js'
export {HEAD_TIMEOUT_MS, IDLE_TIMEOUT_MS, MAX_CONNECTIONS, makeRoute, setRoutePublicUrl, startListener, type Listener} from './listener.js'
export {MAX_HEAD_BYTES} from './parse.js'
export type {ForwardedRequest, RequestRecord, Route} from './types.js'

/** Requests kept for `requests()` (the inspector). */
export const REQUEST_LOG_SIZE = 100

export interface GatewayOptions {
  auth: GatewayAuth
  /** Dev server port on 127.0.0.1. */
  targetPort: number
  /** Default 127.0.0.1 (config gateway.bind). */
  bindHost?: string
  /** Default 0 (ephemeral). */
  port?: number
  /** Called on each request and upgrade (idle tracking). */
  onActivity?: () => void
  /** If set, awaited before the first upstream connection of each client connection (idle wake-up). */
  ensureUpstream?: () => Promise<void>
  /** A request head must be complete this long after its first byte, a new connection send one (default HEAD_TIMEOUT_MS). */
  headTimeoutMs?: number
  /** Default IDLE_TIMEOUT_MS (config gateway.idle_timeout). */
  idleTimeoutMs?: number
  /** Default MAX_CONNECTIONS. */
  maxConnections?: number
  /** Observer of every request forwarded (tests, the differential fuzzer). */
  onForwarded?: (r: ForwardedRequest) => void
  /** Each finished request (the request log). */
  onRequest?: (r: RequestRecord) => void
}

export interface Gateway {
  readonly port: number
  /** http://127.0.0.1:PORT */
  readonly url: string
  /** The public origin: cookie Secure flag, Origin check, X-Preview-Public-* headers. */
  setPublicUrl(url: string): void
  /** Replaces the links (the supervisor calls it when state.json changes); sockets of revoked links close at once. */
  setLinks(links: LinkRecord[]): void
  /** Upgraded (WebSocket) connections open now: an open HMR socket keeps an idle-tracked preview awake. */
  openSockets(): number
  /** New upstream connections go to this port; existing ones keep theirs. */
  setTargetPort(port: number): void
  /** The last REQUEST_LOG_SIZE requests, oldest first. */
  requests(): RequestRecord[]
  /** Closes the listener and every socket. */
  close(): Promise<void>
}

/** Starts the gateway for one preview on bindHost:port (default 127.0.0.1, ephemeral) in front of 127.0.0.1:targetPort. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const route = makeRoute(opts.auth, opts.targetPort, opts)
  const log: RequestRecord[] = []
  const listener = await startListener({
    bindHost: opts.bindHost,
    headTimeoutMs: opts.headTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    maxConnections: opts.maxConnections,
    onRequest(r) {
      log.push(r)
      if (log.length > REQUEST_LOG_SIZE) log.shift()
      opts.onRequest?.(r)
    },
    port: opts.port,
    resolveRoute: () => route,
  })
  return {
    close: () => listener.close(),
    openSockets() {
      let n = 0
      for (const c of listener.connections()) if (c.upgraded) n += 1
      return n
    },
    port: listener.port,
    requests: () => [...log],
    setLinks(links) {
      route.authority.setLinks(links)
      listener.sweep()
    },
    setPublicUrl: (url) => setRoutePublicUrl(route, url),
    setTargetPort(p) {
      route.targetPort = p
    },
    url: listener.url,
  }
}
