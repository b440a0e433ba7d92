// The gateway's shapes: a route (one preview behind the listener) and what the listener shares with its connections.
import type {Authority} from './auth.js'
import type {RequestHead} from './parse.js'

/** What the dev server was sent for one request: the observer (tests, the differential fuzzer) sees exactly this. */
export interface ForwardedRequest {
  method: string
  target: string
  headers: [string, string][]
  /** The body bytes as the dev server reads them (chunk data, without the chunk framing). */
  body: Buffer
}

/** One line of the request log (`preview requests`, the host's status): never bodies or credentials. */
export interface RequestRecord {
  method: string
  /** The target without our token. */
  path: string
  /** The response's status (0 when none came). */
  status: number
  duration_ms: number
  /** Response bytes sent to the client, head included. */
  bytes: number
  at_epoch: number
  /** Why the gateway refused it (a RefusalKind, or bad-request), when it did. */
  refusal?: string
}

/** One preview behind the listener. */
export interface Route {
  authority: Authority
  /** Dev server port on 127.0.0.1; new upstream connections go here. */
  targetPort: number
  publicOrigin: string | null
  publicHost: string | null
  publicProto: string
  secureCookie: boolean
  /** Called on each request and on upgraded traffic (idle tracking). */
  onActivity?: (() => void) | undefined
  /**
   * Awaited before the first upstream connection of each client connection (idle wake-up, on-demand start). It may
   * set targetPort: the heads queued meanwhile are built after it, for that port.
   */
  ensureUpstream?: (() => Promise<void>) | undefined
  /** Observer of every request forwarded, after its whole body (tests and the fuzzer; costs nothing when unset). */
  onForwarded?: ((r: ForwardedRequest) => void) | undefined
}

export interface ListenerContext {
  listenPort: number
  headTimeoutMs: number
  idleTimeoutMs: number
  /** The route for a request's Host (null: 404); the head too, for routers that look further (host mode's "starting" page). */
  resolveRoute(host: string | null, head?: RequestHead): Route | null
  onRequest?: ((r: RequestRecord, route: Route | null) => void) | undefined
}
