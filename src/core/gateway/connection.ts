// The connection pump: one client connection and the upstream connection paired with it. Every request head on a
// connection is parsed, routed and checked on its own (a tunnel agent multiplexes many visitors over one pooled
// connection); the head the dev server gets is re-serialized from what was parsed; bodies are framed strictly;
// response bytes pass untouched (only the status line after an upgrade request is read, to learn whether the
// connection became a tunnel). Backpressure both ways: a side that cannot take more pauses the other.
import net from 'node:net'
import {DevSocketPortRewriter, isScriptRequest} from './socket-url-rewrite.js'
import {authenticate, REFUSAL_STATUS, REFUSAL_TEXT, takeOurTokens, takePreviewCookies, type Grant, type RefusalKind} from './auth.js'
import {BodyFramer} from './framer.js'
import {pick, serializeHead, upstreamHeaders} from './headers.js'
import {findHeadEnd, MAX_HEAD_BYTES, parseRequestHead} from './parse.js'
import type {ListenerContext, RequestRecord, Route} from './types.js'

export const REFUSAL_HEADER = 'X-Preview-Refusal'
/** How long one side of an upgraded connection may stay open after the other side ended it. */
export const HALF_CLOSE_MS = 2000

const STATUS_TEXT: Record<number, string> = {
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

const enum Mode {
  Head,
  Body,
  UpgradePending,
  Tunnel,
  /** A refusal waits for the responses the dev server still owes (pipelining), then goes out and the connection closes. */
  Draining,
  Closed,
}

/** Longest a refusal waits behind a response the dev server still owes. */
const DRAIN_MS = 2000

export class Connection {
  private mode = Mode.Head
  private halfCloseTimer: NodeJS.Timeout | null = null
  /** Set while the response to a script request streams: webpack-dev-server's socket port is rewritten in it. */
  private rewriter: DevSocketPortRewriter | null = null
  private pending: Buffer | null = null
  private readonly framer = new BodyFramer()
  private upstream: net.Socket | null = null
  private upstreamPort = 0
  private queued: (Buffer | string)[] | null = null
  private awaitingResponse = false
  private peek: Buffer | null = null
  private route: Route | null = null
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
  private forwarded: {method: string; target: string; headers: [string, string][]; body: Buffer[]} | null = null
  /** The current request, for the request log. */
  private record: RequestRecord | null = null
  private recordStarted = 0

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: ListenerContext,
  ) {
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

    if (this.upstream && this.mode !== Mode.Closed) this.upstream.end()
    else this.client.end()
    this.boundHalfClose()
  }

  /**
   * One side of an upgraded (WebSocket) connection said it is done: the other gets HALF_CLOSE_MS to finish, then
   * the pair is destroyed (a dev server that never answers a FIN would otherwise keep it open forever).
   */
  private boundHalfClose(): void {
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

  private reportForwarded(): void {
    const f = this.forwarded!
    this.forwarded = null
    this.route?.onForwarded?.({body: Buffer.concat(f.body), headers: f.headers, method: f.method, target: f.target})
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
    const authority = route.authority
    const jar = picked.cookies === null ? null : takePreviewCookies(picked.cookies, authority.cookieName)
    const ourTokens = authority.mode === 'none' && !head.target.includes('token') ? null : takeOurTokens(head.target, authority)
    const now = Date.now() / 1000
    const auth = authenticate(authority, head.target, picked.authorization, jar?.own ?? [], ourTokens, now)
    const path = auth.ok ? auth.target : (ourTokens?.rest ?? head.target)
    if (this.ctx.onRequest) this.startRecord(head.method, path)
    if (!auth.ok) return this.refuse(auth.refusal, auth.clearCookie, head.method)
    this.grant = auth.grant
    this.grantVersion = -1
    const hasBody = head.chunked || (head.contentLength !== null && head.contentLength > 0)
    if (auth.consumedToken !== null && (head.method === 'GET' || head.method === 'HEAD') && head.upgrade === null && !hasBody) {
      // One leading slash only: `//evil.test/` would be a protocol-relative redirect off the preview.
      return this.redirectWithCookie(`/${auth.target.replace(/^[/\\]+/, '')}`, auth.consumedToken)
    }

    // CSRF: the dev server will only ever see a local Origin, so the gateway checks the real one.
    if (picked.origin !== null && !this.originAllowed(picked.origin, route)) return this.refuse('origin', false, head.method)
    if (picked.origin === null && picked.secFetchSite === 'cross-site' && !SAFE_METHODS.has(head.method)) {
      return this.refuse('origin', false, head.method)
    }

    const targetPort = route.targetPort
    const localHost = `localhost:${targetPort}`
    const script = head.method === 'GET' && isScriptRequest(auth.target)
    const headers = upstreamHeaders(head, picked, {
      cookies: jar === null ? picked.cookies : jar.rest,
      identityEncoding: script,
      localHost,
      peer: this.client.remoteAddress ?? '127.0.0.1',
      publicHost: route.publicHost,
      publicProto: route.publicProto,
      refererOrigins: [route.publicOrigin, `http://127.0.0.1:${this.ctx.listenPort}`, `http://localhost:${this.ctx.listenPort}`],
      stripAuthorization: auth.stripAuthorization || authority.mode === 'basic',
    })
    // Scripts come back uncompressed (loopback: it costs nothing) so the dev-socket port rewrite can see them.
    this.rewriter = script ? (this.rewriter ?? new DevSocketPortRewriter(targetPort)) : null
    this.rewriter?.reset()
    this.toUpstream(serializeHead(head.method, auth.target, head.version, headers))
    this.awaitingResponse = true
    if (route.onForwarded) this.forwarded = {body: [], headers, method: head.method, target: auth.target}
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

  private originAllowed(origin: string, route: Route): boolean {
    if (origin === route.publicOrigin) return true
    const port = this.ctx.listenPort
    return origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`
  }

  private cookieAttributes(): string {
    return `Path=/; HttpOnly; SameSite=Lax${this.route?.secureCookie ? '; Secure' : ''}`
  }

  private redirectWithCookie(location: string, token: string): void {
    const authority = this.route!.authority
    const verdict = authority.checkToken(token, Date.now() / 1000)
    const maxAge = verdict.ok ? Math.max(0, Math.floor(verdict.exp - Date.now() / 1000)) : 0
    this.respond(
      302,
      [
        `Location: ${location}`,
        `Set-Cookie: ${authority.cookieName}=${token}; Max-Age=${maxAge}; ${this.cookieAttributes()}`,
        'Referrer-Policy: no-referrer',
      ],
      '',
      false,
    )
  }

  private refuse(refusal: RefusalKind, clearCookie: boolean, method: string): void {
    const headers = [`${REFUSAL_HEADER}: ${refusal}`]
    const mode = this.route?.authority.mode
    if (refusal === 'basic') headers.push('WWW-Authenticate: Basic realm="preview", charset="UTF-8"')
    else if (refusal !== 'origin' && mode === 'token') headers.push('WWW-Authenticate: Bearer realm="preview"')
    if (clearCookie && this.route) headers.push(`Set-Cookie: ${this.route.authority.cookieName}=; Max-Age=0; ${this.cookieAttributes()}`)
    if (this.record) this.record.refusal = refusal
    this.respond(REFUSAL_STATUS[refusal], headers, `${REFUSAL_TEXT[refusal]}\n`, method === 'HEAD')
  }

  private fail(status: number, message: string): void {
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
    const drain = this.awaitingResponse && this.upstream !== null && this.queued === null
    this.mode = drain ? Mode.Draining : Mode.Closed
    this.pending = null
    if (!drain) this.upstream?.destroy()
    const bytes = Buffer.byteLength(body)
    if (this.record) {
      this.record.status = status
      this.record.bytes = bytes
      this.finishRecord()
    }

    const lines = [
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
      ...headers,
      'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${bytes}`,
      'Cache-Control: no-store',
      'Connection: close',
    ]
    const text = `${lines.join('\r\n')}\r\n\r\n${headOnly ? '' : body}`
    if (!drain) {
      this.client.end(text)
      return
    }

    // A pipelining client is owed the responses to the requests before this one: the dev server gets the end of
    // our side, answers what it has, closes; then our answer goes out (bounded by DRAIN_MS).
    this.drained = text
    this.client.pause()
    this.upstream!.end()
    setTimeout(() => this.upstream?.destroy(), DRAIN_MS).unref()
  }

  /** The dev server is done (or gave up): the held answer goes out and the connection closes. */
  private finishDrain(): void {
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

  private toUpstream(data: Buffer | string): void {
    if (this.queued !== null) {
      this.queued.push(data)
      return
    }

    if (this.upstream === null) {
      const ensure = this.route?.ensureUpstream
      if (ensure !== undefined) {
        this.wakeUpstream(ensure, data)
        return
      }

      this.upstream = this.openUpstream()
    }

    // Heads are latin1 strings: written as latin1, every byte goes upstream as it came (obs-text included).
    if (!(typeof data === 'string' ? this.upstream.write(data, 'latin1') : this.upstream.write(data))) this.client.pause()
  }

  /** Idle wake-up (or an on-demand start): hold writes and reads until the dev server is up, then connect. */
  private wakeUpstream(ensure: () => Promise<void>, first: Buffer | string): void {
    const queued: (Buffer | string)[] = [first]
    this.queued = queued
    this.client.pause()
    ensure().then(
      () => {
        if (this.mode === Mode.Closed) return
        const up = this.openUpstream()
        this.upstream = up
        this.queued = null
        for (const d of queued)
          if (typeof d === 'string') up.write(d, 'latin1')
          else up.write(d)
        this.client.resume()
      },
      () => {
        this.queued = null
        this.fail(503, 'The dev server could not be started.')
      },
    )
  }

  private detachUpstream(): void {
    const up = this.upstream
    this.upstream = null
    if (up) {
      up.removeAllListeners()
      up.on('error', () => {})
      up.destroy()
    }
  }

  private openUpstream(): net.Socket {
    const port = this.route!.targetPort
    this.upstreamPort = port
    const up = net.connect({host: '127.0.0.1', noDelay: true, port})
    up.on('data', (data: Buffer) => this.onUpstreamData(data))
    up.on('drain', () => this.client.resume())
    up.on('end', () => {
      if (this.mode === Mode.Draining) return this.finishDrain()
      if (this.mode !== Mode.Closed) this.client.end()
      this.boundHalfClose()
    })
    up.on('error', () => {
      if (this.mode === Mode.Draining) return this.finishDrain()
      if (this.awaitingResponse && this.mode !== Mode.Closed) {
        this.upstream = null
        this.fail(502, `The dev server on port ${this.upstreamPort} did not answer.`)
      } else {
        this.destroy()
      }
    })
    up.on('close', () => {
      if (this.mode === Mode.Draining) return this.finishDrain()
      // The pair lives and dies together; an orderly end was already passed on.
      if (this.mode !== Mode.Closed && !this.client.writableEnded) this.client.end()
    })
    return up
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

  private onUpstreamData(data: Buffer): void {
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
