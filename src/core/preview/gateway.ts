// The auth gateway: every tunnel points here. It checks the link (token, basic or none), rewrites Host/Origin so
// dev servers accept requests for a public host, and streams bytes both ways, WebSocket upgrades included.
//
// Why a hand-written HTTP/1.1 front instead of node:http + http.request: on these 2-core machines that pair reaches
// ~0.2x nginx, while "parse the request head, check auth synchronously, pipe the bytes" reaches ~0.6x (see
// bench/gateway/RESULTS.md). Each client connection is paired with one upstream connection to the dev server
// (keep-alive for as long as the client keeps its connection). Every request head on that connection is parsed
// and checked on its own, because a tunnel agent (cloudflared) multiplexes many visitors over a pooled
// connection. Request bodies are framed (Content-Length / chunked) strictly, so the gateway and the dev server
// always agree on where a request ends; anything ambiguous is refused (request smuggling). Response bytes are
// passed through untouched; only the status line after an Upgrade request is read, to learn whether the
// connection became a tunnel (101) or stays HTTP.
import {createHash, timingSafeEqual} from 'node:crypto'
import net from 'node:net'
import {BASIC_USER, checkTokenSync, type TokenCheck} from './credentials.js'
import {DevSocketPortRewriter, isScriptRequest} from './socket-url-rewrite.js'
import type {AuthMode, LinkRecord} from './types.js'

export interface GatewayAuth {
  mode: AuthMode
  previewId: string
  /** HS256 key (credentials.ts loadJwtKey). */
  jwtKey: Uint8Array
  /** From state.json row.links; a jti not present or revoked is refused; basic mode uses password_sha256. */
  links: LinkRecord[]
  /**
   * Reads the current links again (from state.json). Called, at most every RELOAD_MIN_MS, when a correctly
   * signed token names an unknown link or basic credentials match nothing: a link `preview share` minted a
   * moment ago works at once instead of after the supervisor's next poll.
   */
  reloadLinks?: () => LinkRecord[] | null
}

export interface GatewayOptions {
  auth: GatewayAuth
  /** Dev server port on 127.0.0.1. */
  targetPort: number
  /** Default 127.0.0.1. */
  bindHost?: string
  /** Default 0 (ephemeral). */
  port?: number
  /** Called on each request and upgrade (idle tracking). */
  onActivity?: () => void
  /** If set, awaited before the first upstream connection of each client connection (idle wake-up). */
  ensureUpstream?: () => Promise<void>
  /** Slow-loris guard: a request head must be complete this long after its first byte (default HEAD_TIMEOUT_MS). */
  headTimeoutMs?: number
  /** Test observer (the differential fuzzer): each request as forwarded, once its whole body went upstream. */
  onForwarded?: (r: ForwardedRequest) => void
}

export interface ForwardedRequest {
  method: string
  target: string
  headers: [string, string][]
  body: Buffer
}

export interface Gateway {
  readonly port: number
  /** http://127.0.0.1:PORT */
  readonly url: string
  /** The public origin: cookie Secure flag, Origin check, X-Preview-Public-* headers. */
  setPublicUrl(url: string): void
  /** Replaces the links (the supervisor calls it when state.json changes); takes effect on the next request. */
  setLinks(links: LinkRecord[]): void
  /** Upgraded (WebSocket) connections open now: an open HMR socket keeps an idle-tracked preview awake. */
  openSockets(): number
  /** New client connections go to this port; existing ones keep theirs. */
  setTargetPort(port: number): void
  /** Closes the listener and every socket. */
  close(): Promise<void>
}

/** Why a request was refused; sent in `X-Preview-Refusal` so people and tests can tell the kinds apart. */
export type RefusalKind =
  | 'missing'
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'claims'
  | 'other-preview'
  | 'expired'
  | 'not-yet-valid'
  | 'unknown-link'
  | 'revoked'
  | 'basic'
  | 'origin'

/** How long a request head may take to arrive once it has started (slow-loris guard); GatewayOptions.headTimeoutMs. */
export const HEAD_TIMEOUT_MS = 30_000

/** How long one side of a connection may stay open after the other side ended it. */
export const HALF_CLOSE_MS = 2000

/** Least time between two re-reads of the links triggered by unknown credentials. */
export const RELOAD_MIN_MS = 200

export const REFUSAL_HEADER = 'X-Preview-Refusal'
export const PUBLIC_HOST_HEADER = 'X-Preview-Public-Host'
export const PUBLIC_PROTO_HEADER = 'X-Preview-Public-Proto'

/** Largest request head accepted (431 beyond). */
export const MAX_HEAD_BYTES = 64 * 1024
/** Token verdicts kept in memory; cleared when full so forged tokens cannot grow it without bound. */
const TOKEN_CACHE_MAX = 2048
/** Leeway for clock skew on `nbf`. */
const CLOCK_SKEW_SECONDS = 30

const REFUSAL_STATUS: Record<RefusalKind, number> = {
  algorithm: 401,
  basic: 401,
  claims: 401,
  expired: 401,
  malformed: 401,
  missing: 401,
  'not-yet-valid': 401,
  origin: 403,
  'other-preview': 403,
  revoked: 403,
  signature: 401,
  'unknown-link': 403,
}

const REFUSAL_TEXT: Record<RefusalKind, string> = {
  algorithm: 'This link is not valid (unsupported signature algorithm).',
  basic: 'Sign in with the user and password of the share link.',
  claims: 'This link is not valid.',
  expired: 'This link has expired. Ask for a new one (preview share).',
  malformed: 'This link is not valid.',
  missing: 'This preview needs a link with a token. Ask for one (preview share).',
  'not-yet-valid': 'This link is not valid yet.',
  origin: 'Cross-origin request refused.',
  'other-preview': 'This link belongs to another preview.',
  revoked: 'This link has been revoked.',
  signature: 'This link is not valid (bad signature).',
  'unknown-link': 'This link is not known to this preview (revoked or never issued here).',
}

const STATUS_TEXT: Record<number, string> = {
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')
const CHUNK_SIZE_LINE = /^[0-9a-fA-F]{1,15}(;[^\r\n]*)?\r\n$/
const TRAILER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*\r\n$/
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

type AuthResult =
  | {ok: true; stripAuthorization: boolean; consumedToken: string | null; target: string}
  | {ok: false; refusal: RefusalKind; clearCookie: boolean}

/** Link checks, shared by every connection; verdicts on token signatures are cached so each token is verified once. */
class Authority {
  readonly mode: AuthMode
  readonly previewId: string
  readonly cookieName: string
  private readonly key: Uint8Array
  private readonly cache = new Map<string, TokenCheck>()
  private links = new Map<string, LinkRecord>()
  private basic: {hash: Buffer; link: LinkRecord}[] = []
  private readonly reload: (() => LinkRecord[] | null) | undefined
  private lastReload = 0

  constructor(auth: GatewayAuth) {
    this.mode = auth.mode
    this.previewId = auth.previewId
    this.key = auth.jwtKey
    // Named for the preview: on localhost every preview shares one cookie jar across ports.
    this.cookieName = `preview_${auth.previewId.replaceAll(/[^A-Za-z0-9_-]/g, '_')}`
    this.reload = auth.reloadLinks
    this.setLinks(auth.links)
  }

  /** Re-reads the links when allowed (rate-limited); true when it did. */
  private tryReload(): boolean {
    if (!this.reload || Date.now() - this.lastReload < RELOAD_MIN_MS) return false
    this.lastReload = Date.now()
    const links = this.reload()
    if (links) this.setLinks(links)
    return links !== null
  }

  setLinks(links: LinkRecord[]): void {
    this.links = new Map(links.map((l) => [l.jti, l]))
    this.basic = links
      .filter((l) => typeof l.password_sha256 === 'string' && /^[0-9a-f]{64}$/.test(l.password_sha256))
      .map((l) => ({hash: Buffer.from(l.password_sha256!, 'hex'), link: l}))
  }

  /** A token's verdict now: signature and subject come from the cache, expiry and revocation are checked live. */
  checkToken(token: string, now: number): {ok: true; exp: number} | {ok: false; refusal: RefusalKind} {
    let verdict = this.cache.get(token)
    if (verdict === undefined) {
      verdict = checkTokenSync(token, this.key, this.previewId)
      if (this.cache.size >= TOKEN_CACHE_MAX) this.cache.clear()
      this.cache.set(token, verdict)
    }

    if (!verdict.ok) return {ok: false, refusal: verdict.reason}
    if (verdict.exp <= now) return {ok: false, refusal: 'expired'}
    if (verdict.nbf !== null && verdict.nbf > now + CLOCK_SKEW_SECONDS) return {ok: false, refusal: 'not-yet-valid'}
    const link = this.links.get(verdict.jti) ?? (this.tryReload() ? this.links.get(verdict.jti) : undefined)
    if (!link) return {ok: false, refusal: 'unknown-link'}
    if (link.revoked) return {ok: false, refusal: 'revoked'}
    if (link.expires_at_epoch <= now) return {ok: false, refusal: 'expired'}
    return {exp: Math.min(verdict.exp, link.expires_at_epoch), ok: true}
  }

  /** Basic credentials: the password's SHA-256 is compared in constant time with every live basic link. */
  checkBasic(authorization: string | null, now: number): RefusalKind | null {
    if (!authorization || !/^basic /i.test(authorization)) return 'basic'
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon === -1) return 'basic'
    const userOk = decoded.slice(0, colon) === BASIC_USER
    const hash = createHash('sha256').update(decoded.slice(colon + 1)).digest()
    // No early exit: every candidate is compared, so timing does not say which link (or whether any) matched.
    const find = () => {
      let found: LinkRecord | null = null
      for (const candidate of this.basic) {
        if (timingSafeEqual(candidate.hash, hash) && found === null) found = candidate.link
      }

      return found
    }

    let match = find()
    if (!match && userOk && this.tryReload()) match = find()

    if (!userOk || !match) return 'basic'
    if (match.revoked) return 'revoked'
    if (match.expires_at_epoch <= now) return 'expired'
    return null
  }
}

/** Pulls `token=` out of a request target, keeping every other parameter byte for byte. */
function takeTokenParam(target: string): {token: string; rest: string} | null {
  const q = target.indexOf('?')
  if (q === -1 || !target.includes('token=', q)) return null
  const params = target.slice(q + 1).split('&')
  const i = params.findIndex((p) => p.startsWith('token='))
  if (i === -1) return null
  let token = params[i]!.slice(6)
  try {
    token = decodeURIComponent(token)
  } catch {
    // leave it as sent; it will not verify
  }

  params.splice(i, 1)
  return {rest: params.length > 0 ? `${target.slice(0, q)}?${params.join('&')}` : target.slice(0, q), token}
}

/** Finds one cookie's value in Cookie header values and returns the headers without it. */
function takeCookie(values: string[], name: string): {value: string | null; rest: string[]} {
  let value: string | null = null
  const rest: string[] = []
  for (const header of values) {
    if (!header.includes(name)) {
      rest.push(header)
      continue
    }

    const kept: string[] = []
    for (const part of header.split(';')) {
      const eq = part.indexOf('=')
      if (eq !== -1 && part.slice(0, eq).trim() === name) value ??= part.slice(eq + 1).trim()
      else if (part.trim() !== '') kept.push(part.trim())
    }

    if (kept.length > 0) rest.push(kept.join('; '))
  }

  return {rest, value}
}

const enum Mode {
  Head,
  BodyLength,
  BodyChunked,
  UpgradePending,
  Tunnel,
  Closed,
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

interface GatewayState {
  authority: Authority
  targetPort: number
  listenPort: number
  publicOrigin: string | null
  publicHost: string | null
  publicProto: string
  secureCookie: boolean
  onActivity: (() => void) | undefined
  ensureUpstream: (() => Promise<void>) | undefined
  headTimeoutMs: number
  onForwarded: ((r: ForwardedRequest) => void) | undefined
}

/** One client connection and the upstream connection paired with it. */
class Connection {
  private mode = Mode.Head

  /** True once the connection was upgraded (101) and carries raw bytes both ways. */
  get upgraded(): boolean {
    return this.mode === Mode.Tunnel
  }
  private halfCloseTimer: NodeJS.Timeout | null = null
  private headTimer: NodeJS.Timeout | null = null
  /** Set while the response to a script request streams: webpack-dev-server's socket port is rewritten in it. */
  private rewriter: DevSocketPortRewriter | null = null
  private pending: Buffer | null = null
  private remaining = 0
  private chunk = Chunk.Size
  private line = ''
  private upstream: net.Socket | null = null
  private queued: (Buffer | string)[] | null = null
  private awaitingResponse = false
  private peek: Buffer | null = null
  private readonly targetPort: number
  private readonly localHost: string
  /** The request being forwarded, kept only when GatewayOptions.onForwarded is set. */
  private fwd: {method: string; target: string; headers: [string, string][]; body: Buffer[]} | null = null

  constructor(
    private readonly client: net.Socket,
    private readonly g: GatewayState,
  ) {
    this.targetPort = g.targetPort
    this.localHost = `localhost:${this.targetPort}`
    client.setNoDelay(true)
    client.on('data', (data: Buffer) => this.onClientData(data))
    client.on('end', () => this.onClientEnd())
    client.on('error', () => this.destroy())
    client.on('close', () => this.destroy())
    client.on('drain', () => this.upstream?.resume())
  }

  /** Slow-loris guard: a request head that trickles in must be complete within HEAD_TIMEOUT_MS. */
  private armHeadTimer(): void {
    if (this.headTimer) return
    this.headTimer = setTimeout(() => {
      this.headTimer = null
      if (this.mode === Mode.Head && this.pending !== null) this.fail(408, 'The request head did not arrive in time.')
    }, this.g.headTimeoutMs)
    this.headTimer.unref()
  }

  private clearHeadTimer(): void {
    if (!this.headTimer) return
    clearTimeout(this.headTimer)
    this.headTimer = null
  }

  destroy(): void {
    this.clearHeadTimer()
    if (this.halfCloseTimer) clearTimeout(this.halfCloseTimer)
    this.mode = Mode.Closed
    this.pending = null
    this.client.destroy()
    this.upstream?.destroy()
  }

  private onClientEnd(): void {
    if (this.upstream && this.mode !== Mode.Closed) this.upstream.end()
    else this.client.end()
    this.boundHalfClose()
  }

  /**
   * One side of an upgraded (WebSocket) connection said it is done: the other gets HALF_CLOSE_MS to finish, then the pair is destroyed. Without
   * this, a dev server that never answers a FIN (a hand-rolled WebSocket, a hung process) would keep the
   * connection, and the preview's "open socket" activity, alive forever.
   */
  private boundHalfClose(): void {
    // HTTP keeps half-close semantics (a client may shut its side and still read a long response).
    if (this.halfCloseTimer || this.mode !== Mode.Tunnel) return
    this.halfCloseTimer = setTimeout(() => this.destroy(), HALF_CLOSE_MS)
    this.halfCloseTimer.unref()
  }

  private onClientData(data: Buffer): void {
    if (this.mode === Mode.Tunnel) {
      // An open HMR socket with traffic means someone is looking at the preview.
      this.g.onActivity?.()
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
          // Tolerate the empty lines RFC 9112 allows before a request line.
          while (off + 1 < data.length && data[off] === 13 && data[off + 1] === 10) off += 2
          const end = data.indexOf(CRLFCRLF, off)
          if (end === -1) {
            if (data.length - off > MAX_HEAD_BYTES) return this.fail(431, 'Request head too large.')
            this.pending = data.subarray(off)
            if (off < data.length) this.armHeadTimer() // a head arriving in pieces gets HEAD_TIMEOUT_MS in all
            return
          }

          this.clearHeadTimer()
          if (end - off > MAX_HEAD_BYTES) return this.fail(431, 'Request head too large.')
          const head = data.toString('latin1', off, end + 2)
          off = end + 4
          this.onHead(head)
          if ((this.mode as Mode) === Mode.UpgradePending) {
            this.pending = data.subarray(off)
            return
          }

          break
        }

        case Mode.BodyLength: {
          const n = Math.min(this.remaining, data.length - off)
          this.toUpstream(off === 0 && n === data.length ? data : data.subarray(off, off + n))
          this.fwd?.body.push(data.subarray(off, off + n))
          this.remaining -= n
          off += n
          if (this.remaining === 0) {
            this.mode = Mode.Head
            this.forwarded()
          }
          break
        }

        case Mode.BodyChunked: {
          off = this.consumeChunked(data, off)
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

  /** Chunked request bodies: data is streamed as it comes; size lines and trailers are validated before forwarding. */
  private consumeChunked(data: Buffer, off: number): number {
    if (this.chunk === Chunk.Data) {
      const n = Math.min(this.remaining, data.length - off)
      this.toUpstream(data.subarray(off, off + n))
      this.fwd?.body.push(data.subarray(off, off + n))
      this.remaining -= n
      if (this.remaining === 0) this.chunk = Chunk.DataEnd
      return off + n
    }

    const nl = data.indexOf(10, off)
    const stop = nl === -1 ? data.length : nl + 1
    this.line += data.toString('latin1', off, stop)
    if (this.line.length > 4096) {
      this.fail(400, 'Chunk line too long.')
      return data.length
    }

    if (nl === -1) return stop
    const line = this.line
    this.line = ''
    if (this.chunk === Chunk.Size) {
      if (!CHUNK_SIZE_LINE.test(line)) {
        this.fail(400, 'Bad chunk size line.')
        return data.length
      }

      this.toUpstream(line)
      const size = Number.parseInt(line, 16)
      if (size === 0) {
        this.chunk = Chunk.Trailer
      } else {
        this.remaining = size
        this.chunk = Chunk.Data
      }
    } else if (this.chunk === Chunk.DataEnd) {
      if (line !== '\r\n') {
        this.fail(400, 'Bad chunk terminator.')
        return data.length
      }

      this.toUpstream(line)
      this.chunk = Chunk.Size
    } else {
      // Trailer section: header lines, then an empty line ends the message.
      if (line === '\r\n') {
        this.toUpstream(line)
        this.chunk = Chunk.Size
        this.mode = Mode.Head
        this.forwarded()
      } else if (TRAILER_LINE.test(line)) {
        this.toUpstream(line)
      } else {
        this.fail(400, 'Bad trailer line.')
        return data.length
      }
    }

    return stop
  }

  private onHead(head: string): void {
    const g = this.g
    g.onActivity?.()
    // Request line
    const lineEnd = head.indexOf('\r\n')
    const requestLine = head.slice(0, lineEnd)
    const sp1 = requestLine.indexOf(' ')
    const sp2 = requestLine.lastIndexOf(' ')
    if (sp1 <= 0 || sp2 <= sp1) return this.fail(400, 'Bad request line.')
    const method = requestLine.slice(0, sp1)
    let target = requestLine.slice(sp1 + 1, sp2)
    const version = requestLine.slice(sp2 + 1)
    if ((version !== 'HTTP/1.1' && version !== 'HTTP/1.0') || target.includes(' ')) return this.fail(400, 'Bad request line.')
    if (target.startsWith('http://') || target.startsWith('https://')) {
      // Absolute form (proxy style): keep only the path, the Host header is ours to set anyway.
      const slash = target.indexOf('/', target.indexOf('//') + 2)
      target = slash === -1 ? '/' : target.slice(slash)
    }

    // Header fields: keep the ones we pass on, pick out the ones we act on.
    let out = ''
    let authorization: string | null = null
    let cookies: string[] | null = null
    let origin: string | null = null
    let referer: string | null = null
    let acceptEncoding: string | null = null
    let contentLength: string | null = null
    let transferEncoding: string | null = null
    let connection = ''
    let upgrade: string | null = null
    let forwardedFor = false
    let pos = lineEnd + 2
    while (pos < head.length) {
      const eol = head.indexOf('\r\n', pos)
      const line = head.slice(pos, eol)
      pos = eol + 2
      const colon = line.indexOf(':')
      if (colon <= 0) return this.fail(400, 'Bad header line.')
      const name = line.slice(0, colon)
      const value = line.slice(colon + 1).trim()
      switch (name.toLowerCase()) {
        case 'host':
        case 'x-forwarded-host':
        case 'x-forwarded-proto':
        case 'forwarded':
        case 'keep-alive':
        case 'proxy-connection':
        case 'proxy-authorization':
        case 'te': {
          // Host is rewritten; the forwarding headers are ours to set (a client must not spoof them);
          // the rest are hop-by-hop.
          break
        }

        case 'authorization': {
          authorization = value
          break
        }

        case 'cookie': {
          ;(cookies ??= []).push(value)
          break
        }

        case 'origin': {
          origin = value
          break
        }

        case 'referer': {
          referer = value
          break
        }

        case 'accept-encoding': {
          acceptEncoding = line
          break
        }

        case 'content-length': {
          if (contentLength !== null && contentLength !== value) return this.fail(400, 'Conflicting Content-Length.')
          contentLength = value
          break
        }

        case 'transfer-encoding': {
          if (transferEncoding !== null) return this.fail(400, 'Repeated Transfer-Encoding.')
          transferEncoding = value
          break
        }

        case 'connection': {
          connection += `${value.toLowerCase()},`
          break
        }

        case 'upgrade': {
          upgrade = value
          break
        }

        case 'x-forwarded-for': {
          forwardedFor = true
          out += `${line}\r\n`
          break
        }

        default: {
          // Obsolete line folding and whitespace before the colon make framing ambiguous: refuse.
          if (!HEADER_NAME.test(name)) return this.fail(400, 'Bad header name.')
          if (name.length > 10 && name.slice(0, 10).toLowerCase() === 'x-preview-') break
          out += `${line}\r\n`
        }
      }
    }

    // Body framing, strictly: both headers at once is how requests get smuggled.
    let bodyMode: Mode.Head | Mode.BodyLength | Mode.BodyChunked = Mode.Head
    let length = 0
    if (transferEncoding !== null) {
      if (contentLength !== null) return this.fail(400, 'Both Content-Length and Transfer-Encoding.')
      if (transferEncoding.toLowerCase() !== 'chunked') return this.fail(501, 'Only chunked Transfer-Encoding is supported.')
      bodyMode = Mode.BodyChunked
      out += 'Transfer-Encoding: chunked\r\n'
    } else if (contentLength !== null) {
      if (!/^\d{1,15}$/.test(contentLength)) return this.fail(400, 'Bad Content-Length.')
      length = Number(contentLength)
      if (length > 0) bodyMode = Mode.BodyLength
      out += `Content-Length: ${contentLength}\r\n`
    }

    // Headers named in Connection are hop-by-hop too; only close/keep-alive/upgrade travel on.
    const isUpgrade = upgrade !== null && /(^|[\s,])upgrade([\s,]|$)/.test(connection)
    if (connection !== '') {
      const names = connection.split(',').map((t) => t.trim()).filter(Boolean)
      const kept = names.filter((t) => t === 'close' || t === 'keep-alive' || (t === 'upgrade' && isUpgrade))
      if (names.some((t) => t !== 'close' && t !== 'keep-alive' && t !== 'upgrade')) out = dropHeaders(out, names)
      if (kept.length > 0) out += `Connection: ${kept.join(', ')}\r\n`
    }

    if (isUpgrade) {
      if (bodyMode !== Mode.Head) return this.fail(400, 'An upgrade request cannot carry a body.')
      out += `Upgrade: ${upgrade}\r\n`
    }

    // Authentication
    const ownCookie = cookies !== null && g.authority.mode === 'token' ? takeCookie(cookies, g.authority.cookieName) : null
    const auth = this.authenticate(target, authorization, ownCookie?.value ?? null)
    if (!auth.ok) return this.refuse(auth.refusal, auth.clearCookie, method)
    target = auth.target
    if (auth.consumedToken !== null && (method === 'GET' || method === 'HEAD') && !isUpgrade && bodyMode === Mode.Head) {
      // One leading slash only: `//evil.test/` would be a protocol-relative redirect off the preview.
      return this.redirectWithCookie(`/${target.replace(/^[/\\]+/, '')}`, auth.consumedToken)
    }

    // CSRF: the dev server will only ever see a local Origin, so the gateway checks the real one.
    if (origin !== null && !this.originAllowed(origin)) return this.refuse('origin', false, method)

    if (authorization !== null && !auth.stripAuthorization) out += `Authorization: ${authorization}\r\n`
    if (cookies !== null) for (const c of ownCookie?.rest ?? cookies) out += `Cookie: ${c}\r\n`

    // Scripts come back uncompressed (loopback: it costs nothing) so the dev-socket port rewrite can see them.
    const script = method === 'GET' && isScriptRequest(target)
    if (acceptEncoding !== null && !script) out += `${acceptEncoding}\r\n`
    this.rewriter = script ? (this.rewriter ?? new DevSocketPortRewriter(this.targetPort)) : null
    this.rewriter?.reset()

    const local = `http://${this.localHost}`
    if (origin !== null) out += `Origin: ${local}\r\n`
    if (referer !== null) out += `Referer: ${this.rewriteReferer(referer, local)}\r\n`
    if (!forwardedFor) out += `X-Forwarded-For: ${this.client.remoteAddress ?? '127.0.0.1'}\r\n`
    // Host, Origin and X-Forwarded-Host agree (Next.js Server Actions compare them); the public names ride along.
    out += `X-Forwarded-Host: ${this.localHost}\r\nX-Forwarded-Proto: http\r\n`
    if (g.publicHost !== null) out += `${PUBLIC_HOST_HEADER}: ${g.publicHost}\r\n${PUBLIC_PROTO_HEADER}: ${g.publicProto}\r\n`

    const forwardedHead = `${method} ${target} ${version}\r\nHost: ${this.localHost}\r\n${out}\r\n`
    this.toUpstream(forwardedHead)
    this.awaitingResponse = true
    if (g.onForwarded !== undefined) {
      const headers = forwardedHead
        .split('\r\n')
        .slice(1, -2)
        .map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).replaceAll(/^[ \t]+|[ \t]+$/g, '')])
      this.fwd = {body: [], headers, method, target}
      if (isUpgrade || bodyMode === Mode.Head) this.forwarded()
    }
    if (isUpgrade) {
      this.mode = Mode.UpgradePending
      this.peek = null
    } else {
      this.mode = bodyMode
      this.remaining = length
      this.chunk = Chunk.Size
      this.line = ''
    }
  }

  private forwarded(): void {
    const f = this.fwd
    if (f === null) return
    this.fwd = null
    this.g.onForwarded?.({body: Buffer.concat(f.body), headers: f.headers, method: f.method, target: f.target})
  }

  private authenticate(target: string, authorization: string | null, cookie: string | null): AuthResult {
    const authority = this.g.authority
    if (authority.mode === 'none') return {consumedToken: null, ok: true, stripAuthorization: false, target}
    const now = Date.now() / 1000
    if (authority.mode === 'basic') {
      const refusal = authority.checkBasic(authorization, now)
      if (refusal !== null) return {clearCookie: false, ok: false, refusal}
      return {consumedToken: null, ok: true, stripAuthorization: true, target}
    }

    let refusal: RefusalKind | null = null
    let session = false
    let clearCookie = false
    if (cookie !== null) {
      const verdict = authority.checkToken(cookie, now)
      if (verdict.ok) session = true
      else {
        refusal = verdict.refusal
        clearCookie = true
      }
    }

    let stripAuthorization = false
    if (!session && authorization !== null && authorization.length > 7 && /^bearer /i.test(authorization)) {
      const verdict = authority.checkToken(authorization.slice(7).trim(), now)
      if (verdict.ok) {
        session = true
        stripAuthorization = true
      } else {
        refusal ??= verdict.refusal
      }
    }

    // Only a token that verifies as ours is consumed; an app's own ?token= (Vite's HMR socket) passes untouched.
    const param = takeTokenParam(target)
    if (param !== null) {
      const verdict = authority.checkToken(param.token, now)
      if (verdict.ok) return {consumedToken: param.token, ok: true, stripAuthorization, target: param.rest}
      if (!session) refusal = verdict.refusal === 'malformed' && refusal !== null ? refusal : verdict.refusal
    }

    if (session) return {consumedToken: null, ok: true, stripAuthorization, target}
    return {clearCookie, ok: false, refusal: refusal ?? 'missing'}
  }

  private originAllowed(origin: string): boolean {
    const g = this.g
    if (origin === g.publicOrigin) return true
    return origin === `http://127.0.0.1:${g.listenPort}` || origin === `http://localhost:${g.listenPort}`
  }

  private rewriteReferer(referer: string, local: string): string {
    const origins = [this.g.publicOrigin, `http://127.0.0.1:${this.g.listenPort}`, `http://localhost:${this.g.listenPort}`]
    for (const o of origins) {
      if (o !== null && referer.startsWith(o) && (referer.length === o.length || referer[o.length] === '/')) {
        return local + referer.slice(o.length)
      }
    }

    return referer
  }

  private cookieAttributes(): string {
    return `Path=/; HttpOnly; SameSite=Lax${this.g.secureCookie ? '; Secure' : ''}`
  }

  private redirectWithCookie(location: string, token: string): void {
    const authority = this.g.authority
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
    if (refusal === 'basic') headers.push('WWW-Authenticate: Basic realm="preview", charset="UTF-8"')
    else if (refusal !== 'origin' && this.g.authority.mode === 'token') headers.push('WWW-Authenticate: Bearer realm="preview"')
    if (clearCookie) headers.push(`Set-Cookie: ${this.g.authority.cookieName}=; Max-Age=0; ${this.cookieAttributes()}`)
    this.respond(REFUSAL_STATUS[refusal], headers, `${REFUSAL_TEXT[refusal]}\n`, method === 'HEAD')
  }

  private fail(status: number, message: string): void {
    this.respond(status, [], `${message}\n`, false)
  }

  /**
   * A response made by the gateway itself; the connection closes after it. Any upstream connection is dropped
   * first so no dev-server bytes can follow (clients that do not pipeline have read the previous response).
   */
  private respond(status: number, headers: string[], body: string, headOnly: boolean): void {
    if (this.mode === Mode.Closed) return
    this.mode = Mode.Closed
    this.pending = null
    this.upstream?.destroy()
    const bytes = Buffer.byteLength(body)
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
      ...headers,
      'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${bytes}`,
      'Cache-Control: no-store',
      'Connection: close',
    ]
    this.client.end(`${lines.join('\r\n')}\r\n\r\n${headOnly ? '' : body}`)
  }

  private toUpstream(data: Buffer | string): void {
    if (this.queued !== null) {
      this.queued.push(data)
      return
    }

    if (this.upstream === null) {
      if (this.g.ensureUpstream !== undefined) {
        this.wakeUpstream(this.g.ensureUpstream, data)
        return
      }

      this.upstream = this.openUpstream()
    }

    if (!this.upstream.write(data)) this.client.pause()
  }

  /** Idle wake-up: hold writes (and reading from the client) until the dev server is back, then connect. */
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
        for (const d of queued) up.write(d)
        this.client.resume()
      },
      () => {
        this.queued = null
        this.fail(503, 'The dev server could not be started again.')
      },
    )
  }

  private openUpstream(): net.Socket {
    const up = net.connect({host: '127.0.0.1', noDelay: true, port: this.targetPort})
    up.on('data', (data: Buffer) => this.onUpstreamData(data))
    up.on('drain', () => this.client.resume())
    up.on('end', () => {
      if (this.mode !== Mode.Closed) this.client.end()
      this.boundHalfClose()
    })
    up.on('error', () => {
      if (this.awaitingResponse && this.mode !== Mode.Closed) {
        this.upstream = null
        this.fail(502, `The dev server on port ${this.targetPort} did not answer.`)
      } else {
        this.destroy()
      }
    })
    up.on('close', () => {
      // The pair lives and dies together; an orderly end was already passed on.
      if (this.mode !== Mode.Closed && this.client.writableEnded) return
      if (this.mode !== Mode.Closed) this.client.end()
    })
    return up
  }

  private onUpstreamData(data: Buffer): void {
    this.awaitingResponse = false
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
      if (this.mode === Mode.Tunnel) this.g.onActivity?.()
      if (early !== null && early.length > 0) {
        if (this.mode === Mode.Tunnel) this.toUpstream(early)
        else this.consume(early)
      }

      return
    }

    if (this.mode === Mode.Closed) return
    if (this.rewriter !== null && this.mode !== Mode.Tunnel) this.rewriter.rewrite(data)
    if (!this.client.write(data)) this.upstream?.pause()
  }
}

/** Removes header lines whose (lower-cased) names are listed. */
function dropHeaders(out: string, names: string[]): string {
  return out
    .split('\r\n')
    .filter((line) => {
      if (line === '') return false
      const name = line.slice(0, line.indexOf(':')).toLowerCase()
      return !names.includes(name)
    })
    .map((l) => `${l}\r\n`)
    .join('')
}

/** Starts the gateway on bindHost:port (default 127.0.0.1, ephemeral) in front of 127.0.0.1:targetPort. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const state: GatewayState = {
    authority: new Authority(opts.auth),
    ensureUpstream: opts.ensureUpstream,
    headTimeoutMs: opts.headTimeoutMs ?? HEAD_TIMEOUT_MS,
    listenPort: 0,
    onActivity: opts.onActivity,
    onForwarded: opts.onForwarded,
    publicHost: null,
    publicOrigin: null,
    publicProto: 'http',
    secureCookie: false,
    targetPort: opts.targetPort,
  }
  const connections = new Set<Connection>()
  const server = net.createServer({allowHalfOpen: true, noDelay: true}, (socket) => {
    const conn = new Connection(socket, state)
    connections.add(conn)
    socket.once('close', () => connections.delete(conn))
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
  state.listenPort = port
  const urlHost = bindHost === '0.0.0.0' || bindHost === '::' ? '127.0.0.1' : bindHost.includes(':') ? `[${bindHost}]` : bindHost

  return {
    async close() {
      const closed = new Promise<void>((resolve) => {
        server.close(() => resolve())
      })
      for (const c of connections) c.destroy()
      connections.clear()
      await closed
    },
    openSockets() {
      let n = 0
      for (const c of connections) if (c.upgraded) n += 1
      return n
    },
    port,
    setLinks(links) {
      state.authority.setLinks(links)
    },
    setPublicUrl(url) {
      const u = new URL(url)
      state.publicOrigin = u.origin
      state.publicHost = u.host
      state.publicProto = u.protocol.replace(':', '')
      state.secureCookie = u.protocol === 'https:'
    },
    setTargetPort(p) {
      state.targetPort = p
    },
    url: `http://${urlHost}:${port}`,
  }
}
