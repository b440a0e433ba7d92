// The connection pump: one client connection and the upstream connection paired with it. Every request head on a
// connection is parsed, routed and checked on its own (a tunnel agent multiplexes many visitors over one pooled
// connection); the head the dev server gets is re-serialized from what was parsed; bodies are framed strictly;
// response bytes pass untouched (only the status line after an upgrade request is read, to learn whether the
// connection became a tunnel). Backpressure both ways: a side that cannot take more pauses the other.
// A route with an ensureUpstream hook (idle wake-up, on-demand start) may only know its dev server's port once the
// hook ran: until then a connection queues what it would send, request heads as thunks that are built at the
// connect, so the Host the dev server gets and the port connected to are the same.
import type net from 'node:net'
import {DevSocketPortRewriter, isScriptRequest} from './socket-url-rewrite.js'
import {answerText, cookieRedirectHeaders, refusalAnswer} from './answers.js'
import {admit} from './admission.js'
import type {Grant, RefusalKind} from './auth.js'
import {BodyFramer} from './framer.js'
import {pick, serializeHead, upstreamHeaders, type Picked} from './headers.js'
import {findHeadEnd, MAX_HEAD_BYTES, parseRequestHead, type RequestHead} from './parse.js'
import type {ListenerContext, RequestRecord, Route} from './types.js'
import {Mode, UpstreamSide} from './upstream.js'

export {REFUSAL_HEADER} from './answers.js'
/** How long one side of an upgraded connection may stay open after the other side ended it. */
export const HALF_CLOSE_MS = 2000

/** The request as the observer gets it once its body is through (the head's fields are set when it is built). */
type Forwarded = {method: string; target: string; headers: [string, string][]; body: Buffer[]}

/** Longest a refusal waits behind a response the dev server still owes. */
const DRAIN_MS = 2000

export class Connection extends UpstreamSide {
  private halfCloseTimer: NodeJS.Timeout | null = null
  /** Set while the response to a script request streams: webpack-dev-server's socket port is rewritten in it. */
  private rewriter: DevSocketPortRewriter | null = null
  private pending: Buffer | null = null
  private readonly framer = new BodyFramer()
  private peek: Buffer | null = null
  /** The method of the request being handled (a gateway answer to HEAD has no body). */
  private method: string | null = null
  /** The client ended its side while an upgrade was pending. */
  private endAfterUpgrade = false
  /** The gateway's own answer, held while the connection drains (Mode.Draining). */
  private drained: string | null = null
  /** The credential that let the latest request in: the connection closes when it is revoked or expires. */
  grant: Grant | null = null
  /** The links version the grant was last found valid at (-1: not checked yet). */
  private grantVersion = -1
  /** When the current request head started to arrive (0: none pending), for the head timeout. */
  headStartedAt: number
  /** Last byte either way, for the idle timeout. */
  lastActivity: number
  /** What the onForwarded observer gets at the end of the current request's body. */
  private forwarded: Forwarded | null = null
  /** The current request, for the request log. */
  private record: RequestRecord | null = null
  private recordStarted = 0

  constructor(
    client: net.Socket,
    private readonly ctx: ListenerContext,
  ) {
    super(client)
    this.headStartedAt = Date.now()
    this.lastActivity = this.headStartedAt
    client.setNoDelay(true)
    client.on('data', (data: Buffer) => this.onClientData(data))
    client.on('end', () => this.onClientEnd())
    client.on('error', () => this.destroy())
    client.on('close', () => this.destroy())
    client.on('drain', () => this.upstream?.resume())
  }

  /** True once the connection was upgraded (101) and carries raw bytes both ways. */
  get upgraded(): boolean {
    return this.mode === Mode.Tunnel
  }

  get currentRoute(): Route | null {
    return this.route
  }

  /** Called by the listener's sweep: head timeout, idle timeout, and grants revoked or expired. */
  sweep(now: number): void {
    if (this.mode === Mode.Closed) return
    // A connection in use by a revoked or expired link is cut: an upgraded socket, a request or a response on its
    // way. An idle keep-alive one stays open: its next request is checked like any and refused with 403 (a reset
    // would look like a network error to an agent's fetch); a streamed response is cut at its next byte (below).
    const inUse = this.mode !== Mode.Head || this.awaitingResponse || this.queued !== null
    if (inUse && !this.grantHolds(now)) {
      this.destroy()
      return
    }

    if (this.mode !== Mode.Head || this.awaitingResponse || this.queued !== null) return
    if (this.headStartedAt !== 0 && now - this.headStartedAt >= this.ctx.headTimeoutMs) {
      if (this.pending !== null && this.pending.length > 0) this.fail(408, 'The request head did not arrive in time.')
      else this.destroy()
      return
    }

    if (now - this.lastActivity >= this.ctx.idleTimeoutMs) this.destroy()
  }

  destroy(): void {
    if (this.halfCloseTimer) clearTimeout(this.halfCloseTimer)
    this.finishRecord()
    this.mode = Mode.Closed
    this.pending = null
    this.client.destroy()
    this.upstream?.destroy()
  }

  private onClientEnd(): void {
    if (this.mode === Mode.Draining) return
    // Bytes sent after an upgrade head wait for the 101; the end of the client's side must wait behind them.
    if (this.mode === Mode.UpgradePending) {
      this.endAfterUpgrade = true
      return
    }

    // Requests queued behind a wake are still owed their answers: the end goes upstream after them.
    if (this.queued !== null) {
      this.queued.push(() => {
        this.upstream?.end()
        return null
      })
      return
    }

    if (this.upstream && this.mode !== Mode.Closed) this.upstream.end()
    else this.client.end()
    this.boundHalfClose()
  }

  /**
   * One side of an upgraded (WebSocket) connection said it is done: the other gets HALF_CLOSE_MS to finish, then
   * the pair is destroyed (a dev server that never answers a FIN would otherwise keep it open forever).
   */
  protected boundHalfClose(): void {
    if (this.halfCloseTimer || this.mode !== Mode.Tunnel) return
    this.halfCloseTimer = setTimeout(() => this.destroy(), HALF_CLOSE_MS)
    this.halfCloseTimer.unref()
  }

  private onClientData(data: Buffer): void {
    this.lastActivity = Date.now()
    if (this.mode === Mode.Tunnel) {
      if (!this.grantHolds(this.lastActivity)) return this.destroy()
      this.route?.onActivity?.() // an open HMR socket with traffic means someone is looking at the preview
      this.toUpstream(data)
      return
    }

    if (this.mode === Mode.Closed) return
    if (this.pending) {
      data = this.pending.length === 0 ? data : Buffer.concat([this.pending, data])
      this.pending = null
    }

    if (this.mode === Mode.UpgradePending) {
      // Clients wait for the 101 before sending frames; keep anything early until we know the outcome.
      this.pending = data
      return
    }

    this.consume(data)
  }

  private consume(data: Buffer): void {
    let off = 0
    while (off < data.length) {
      switch (this.mode) {
        case Mode.Head: {
          // Empty lines before a request line are skipped (RFC 9112 2.2), CRLF or LF as llhttp does; never forwarded.
          while (off < data.length && (data[off] === 10 || (data[off] === 13 && data[off + 1] === 10))) off += data[off] === 10 ? 1 : 2
          if (off >= data.length) return
          if (this.headStartedAt === 0) this.headStartedAt = Date.now()
          const end = findHeadEnd(data, off)
          if (end === -2) {
            const sp = data.indexOf(32, off)
            this.method = sp === -1 ? null : data.toString('latin1', off, Math.min(sp, off + 16))
            return this.fail(400, 'Lines must end in CRLF.')
          }
          if (end === -1) {
            if (data.length - off > MAX_HEAD_BYTES) return this.fail(431, 'Request head too large.')
            this.pending = data.subarray(off)
            return
          }

          if (end - off > MAX_HEAD_BYTES) return this.fail(431, 'Request head too large.')
          this.headStartedAt = 0
          const text = data.toString('latin1', off, end - 2)
          off = end
          this.onHead(text)
          if ((this.mode as Mode) === Mode.UpgradePending) {
            this.pending = data.subarray(off)
            return
          }

          break
        }

        case Mode.Body: {
          const r = this.framer.feed(data, off, (bytes) => this.forwardBody(bytes))
          if ('error' in r) return this.fail(400, r.error)
          off = r.off
          if (r.done) this.endOfBody()
          break
        }

        case Mode.Tunnel: {
          this.toUpstream(data.subarray(off))
          return
        }

        default: {
          return
        }
      }
    }
  }

  private forwardBody(bytes: Buffer | string): void {
    if (this.forwarded !== null && typeof bytes !== 'string') this.forwarded.body.push(Buffer.from(bytes))
    this.toUpstream(bytes)
  }

  private endOfBody(): void {
    this.mode = Mode.Head
    if (this.forwarded !== null) this.reportForwarded()
  }

  /** The observer sees a request once its body is through; behind a wake, once its head was built (at the connect). */
  private reportForwarded(): void {
    const f = this.forwarded!
    this.forwarded = null
    const observer = this.route?.onForwarded
    if (observer === undefined) return
    const report = (): null => {
      observer({body: Buffer.concat(f.body), headers: f.headers, method: f.method, target: f.target})
      return null
    }

    if (this.queued === null) report()
    else this.queued.push(report)
  }

  private onHead(text: string): void {
    this.finishRecord()
    // Known before the head is judged: a refused HEAD request gets no body either.
    this.method = text.slice(0, Math.max(0, text.indexOf(' ')))
    const parsed = parseRequestHead(text)
    if (!parsed.ok) return this.fail(parsed.status, parsed.reason)
    const head = parsed.head
    this.method = head.method
    const route = this.ctx.resolveRoute(head.host, head)
    if (route === null) return this.fail(404, 'No preview is served at this host name.')
    if (route !== this.route) {
      if (this.upstream !== null || this.queued !== null) {
        if (this.awaitingResponse || this.queued !== null)
          return this.fail(400, 'A connection may not switch hosts with a request in flight.')
        this.detachUpstream()
      }

      this.route = route
      this.grant = null
    }

    route.onActivity?.()
    const picked = pick(head)
    if (typeof picked === 'string') return this.fail(400, picked)
    this.handle(route, head, picked)
  }

  /** The admission verdict (auth, the token-to-cookie redirect, CSRF) acted on; an admitted request goes upstream. */
  private handle(route: Route, head: RequestHead, picked: Picked): void {
    const hasBody = head.chunked || (head.contentLength !== null && head.contentLength > 0)
    const a = admit(route, head, picked, hasBody, this.ctx.listenPort)
    if (this.ctx.onRequest) this.startRecord(head.method, a.path)
    if (a.grant !== undefined) {
      this.grant = a.grant
      this.grantVersion = -1
    }

    if (a.kind === 'refuse') return this.refuse(a.refusal, a.clearCookie, head.method)
    if (a.kind === 'redirect') return this.redirectWithCookie(a.location, a.token)
    const {cookies, stripAuthorization: strip, target} = a
    const f: Forwarded | null = route.onForwarded ? {body: [], headers: [], method: head.method, target} : null
    // Behind a wake the head waits to be built: the dev server's port (its Host) may only be known after it.
    if (this.queued !== null || (this.upstream === null && route.ensureUpstream !== undefined)) {
      this.queueHead(() => this.upstreamHead(route, head, picked, cookies, target, strip, f))
    } else {
      this.toUpstream(this.upstreamHead(route, head, picked, cookies, target, strip, f))
    }

    this.awaitingResponse = true
    this.forwarded = f
    if (head.upgrade !== null) {
      this.mode = Mode.UpgradePending
      this.peek = null
      if (this.forwarded !== null) this.reportForwarded()
    } else if (hasBody) {
      this.mode = Mode.Body
      this.framer.reset(head.chunked ? null : head.contentLength)
    } else {
      this.mode = Mode.Head
      if (this.forwarded !== null) this.reportForwarded()
    }
  }

  /**
   * The head the dev server gets, for the port the route targets now: Host, Origin and X-Forwarded-Host name it,
   * and a script's response has that port's webpack-dev-server socket URL rewritten.
   */
  private upstreamHead(
    route: Route,
    head: RequestHead,
    picked: Picked,
    cookies: string[] | null,
    target: string,
    stripAuthorization: boolean,
    forwarded: Forwarded | null,
  ): string {
    const targetPort = route.targetPort
    const script = head.method === 'GET' && isScriptRequest(target)
    const headers = upstreamHeaders(head, picked, {
      cookies,
      identityEncoding: script,
      localHost: `localhost:${targetPort}`,
      peer: this.client.remoteAddress ?? '127.0.0.1',
      publicHost: route.publicHost,
      publicProto: route.publicProto,
      refererOrigins: [route.publicOrigin, `http://127.0.0.1:${this.ctx.listenPort}`, `http://localhost:${this.ctx.listenPort}`],
      stripAuthorization,
    })
    // Scripts come back uncompressed (loopback: it costs nothing) so the dev-socket port rewrite can see them.
    this.rewriter = script ? (this.rewriter?.port === targetPort ? this.rewriter : new DevSocketPortRewriter(targetPort)) : null
    this.rewriter?.reset()
    if (forwarded !== null) forwarded.headers = headers
    return serializeHead(head.method, target, head.version, headers)
  }

  private redirectWithCookie(location: string, token: string): void {
    const route = this.route!
    const verdict = route.authority.checkToken(token, Date.now() / 1000)
    const maxAge = verdict.ok ? Math.max(0, Math.floor(verdict.exp - Date.now() / 1000)) : 0
    this.respond(302, cookieRedirectHeaders(location, route.authority.cookieName, token, maxAge, route.secureCookie), '', false)
  }

  private refuse(refusal: RefusalKind, clearCookie: boolean, method: string): void {
    const route = this.route && {
      cookieName: this.route.authority.cookieName,
      mode: this.route.authority.mode,
      secure: this.route.secureCookie,
    }
    const answer = refusalAnswer(refusal, route, clearCookie)
    if (this.record) this.record.refusal = refusal
    this.respond(answer.status, answer.headers, answer.body, method === 'HEAD')
  }

  protected fail(status: number, message: string): void {
    if (this.ctx.onRequest && this.record === null) this.startRecord('-', '-')
    if (this.record && !this.record.refusal) this.record.refusal = 'bad-request'
    this.respond(status, [], `${message}\n`, this.method === 'HEAD')
  }

  /**
   * A response made by the gateway itself; the connection closes after it. Any upstream connection is dropped
   * first so no dev-server bytes can follow (clients that do not pipeline have read the previous response).
   */
  private respond(status: number, headers: string[], body: string, headOnly: boolean): void {
    if (this.mode === Mode.Closed || this.mode === Mode.Draining) return
    const drain = this.awaitingResponse && (this.upstream !== null || this.queued !== null)
    this.mode = drain ? Mode.Draining : Mode.Closed
    this.pending = null
    if (!drain) this.upstream?.destroy()
    if (this.record) {
      this.record.status = status
      this.record.bytes = Buffer.byteLength(body)
      this.finishRecord()
    }

    const text = answerText(status, headers, body, headOnly)
    if (!drain) {
      this.client.end(text)
      return
    }

    // A pipelining client is owed the responses to the requests before this one: the dev server gets the end of
    // our side, answers what it has, closes; then our answer goes out (bounded by DRAIN_MS). Behind a wake, the end
    // goes after the requests queued for the connect.
    this.drained = text
    this.client.pause()
    if (this.queued === null) this.endForDrain()
    else
      this.queued.push(() => {
        this.endForDrain()
        return null
      })
  }

  private endForDrain(): void {
    this.upstream!.end()
    setTimeout(() => this.upstream?.destroy(), DRAIN_MS).unref()
  }

  /** The dev server could not be started: a 503, also in place of the answers a draining refusal waited behind. */
  protected wakeFailed(): void {
    if (this.mode === Mode.Draining) {
      this.mode = Mode.Closed
      this.drained = null
      this.client.end(answerText(503, [], 'The dev server could not be started.\n', false))
      return
    }

    this.fail(503, 'The dev server could not be started.')
  }

  /** The dev server is done (or gave up): the held answer goes out and the connection closes. */
  protected finishDrain(): void {
    if (this.mode !== Mode.Draining) return
    this.mode = Mode.Closed
    const text = this.drained ?? ''
    this.drained = null
    this.client.end(text)
  }

  private startRecord(method: string, path: string): void {
    this.recordStarted = Date.now()
    this.record = {at_epoch: Math.floor(this.recordStarted / 1000), bytes: 0, duration_ms: 0, method, path, status: 0}
  }

  /** The request log entry of the previous request on this connection is complete when the next one starts (or the connection ends). */
  private finishRecord(): void {
    const r = this.record
    if (r === null) return
    this.record = null
    r.duration_ms = Date.now() - this.recordStarted
    this.ctx.onRequest?.(r, this.route)
  }

  /** The link that let the latest request in still holds (re-checked when the links change or it expires). */
  private grantHolds(now: number): boolean {
    const grant = this.grant
    if (grant === null || this.route === null) return true
    const authority = this.route.authority
    if (this.grantVersion === authority.version && now < grant.exp * 1000) return true
    if (!authority.stillValid(grant, now / 1000)) return false
    this.grantVersion = authority.version
    return true
  }

  protected grantStillHolds(): boolean {
    return this.grantHolds(Date.now())
  }

  protected onUpstreamData(data: Buffer): void {
    this.lastActivity = Date.now()
    // Not one byte more for a link that was revoked or has expired (a streamed response, an open socket).
    if (!this.grantHolds(this.lastActivity)) return this.destroy()
    if (this.awaitingResponse) {
      this.awaitingResponse = false
      if (this.record !== null && data.length >= 12) this.record.status = Number(data.toString('latin1', 9, 12)) || 0
    }

    if (this.record !== null) this.record.bytes += data.length
    if (this.mode === Mode.UpgradePending) {
      const seen = this.peek === null ? data : Buffer.concat([this.peek, data])
      if (seen.length < 12) {
        this.peek = seen
        return
      }

      this.peek = null
      const status = seen.toString('latin1', 0, 12)
      this.mode = status === 'HTTP/1.1 101' || status === 'HTTP/1.0 101' ? Mode.Tunnel : Mode.Head
      if (!this.client.write(seen)) this.upstream?.pause()
      const early = this.pending
      this.pending = null
      if (this.mode === Mode.Tunnel) this.route?.onActivity?.()
      if (early !== null && early.length > 0) {
        if (this.mode === Mode.Tunnel) this.toUpstream(early)
        else this.consume(early)
      }

      if (this.endAfterUpgrade) {
        this.endAfterUpgrade = false
        this.onClientEnd()
      }

      return
    }

    if (this.mode === Mode.Closed) return
    if (this.rewriter !== null && this.mode !== Mode.Tunnel) this.rewriter.rewrite(data)
    if (!this.client.write(data)) this.upstream?.pause()
  }
}
