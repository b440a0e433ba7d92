// The gateway's differential fuzzer: each case is a client byte stream sent (1) through the gateway into a real
// node:http server, the "upstream", and (2) straight into a second node:http server, the "reference". Both servers
// record every request their parser (llhttp) produced; the gateway reports what it forwarded (onForwarded). Then:
//
//   P1  every request upstream parsed is one the gateway forwarded, same method, target, header list and body,
//       in the same order (upstream's list is a prefix of the gateway's);
//   P2  every request the gateway forwarded is one llhttp parses from the raw stream too, same method, target
//       (modulo the gateway's rewrites: `?token=` taken out, absolute form reduced to its path) and body;
//   P3  nothing of ours reaches the app (no preview_* cookie, no valid `token=`, no Authorization carrying a token
//       signed with our key, no basic credentials of ours), and nothing without valid credentials reaches it;
//   P4  no byte a client sent reaches one of the gateway's own response headers unvalidated (Set-Cookie, Location);
//   and after an upgrade both tunnels carry the same bytes.
// "Or the gateway refused": upstream may see fewer requests than were forwarded when the gateway answered itself
// (it may drop the upstream connection then), or when upstream's parser stopped on Connection: close / HTTP/1.0.
//
// Cases run in lanes (a gateway per auth mode + upstream + reference per lane), one case at a time per lane, so
// every request a lane's servers see belongs to the case running there. Used by test/fuzz/gateway-differential.test.ts
// (the test suite) and bench/gateway/fuzz.mjs (a million cases against dist/).
import {createHash, createHmac} from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import fc from 'fast-check'
import {SignJWT} from 'jose'
import {caseArbitrary, chunksOf, streamOf, type FuzzCase, type FuzzCredentials, type GatewayMode} from './generators.js'

/**
 * What the gateway reports through GatewayOptions.onForwarded, once per request after its whole body went upstream
 * (an upgrade: at head time, empty body). The contract the comparison with llhttp relies on:
 * - method and target exactly as written upstream;
 * - headers: every header line written upstream, in order, name as written, value without leading or trailing
 *   SP/HTAB (what llhttp's rawHeaders give);
 * - body: the payload bytes (chunked: the chunk data, without sizes, extensions and trailers).
 */
export interface Forwarded {
  method: string
  target: string
  headers: [string, string][]
  body: Buffer
}

/** The part of startGateway's API the harness uses (the gateway under test is passed in: src/ or dist/). */
export interface GatewayUnderTest {
  port: number
  setPublicUrl(url: string): void
  close(): Promise<void>
}

export type StartGateway = (opts: {
  auth: {mode: GatewayMode; previewId: string; jwtKey: Uint8Array; links: LinkRecordLike[]}
  targetPort: number
  onForwarded: (r: Forwarded) => void
}) => Promise<GatewayUnderTest>

export interface LinkRecordLike {
  jti: string
  auth_mode: GatewayMode
  expires_at_epoch: number
  revoked: boolean
  password_sha256?: string
}

export const PUBLIC_URL = 'https://pub.example'
const PREVIEW_ID = 'p-0f0f0f0f'
const OTHER_ID = 'p-ffffffff'
const BASIC_USER = 'preview'
/** 2100-01-01: links that stay valid whatever the clock says, so a seed gives the same tokens on every run. */
const FAR = 4_102_444_800
const CONNECTION_MS = 5000
const QUIET_MS = 2000
const STILL_MS = 25

interface Credentials extends FuzzCredentials {
  key: Uint8Array
  links: LinkRecordLike[]
  validSet: Set<string>
  /** The signature segments of every token signed with our key. */
  ourSignatures: string[]
  /** Their payload segments (what a bent token still carries intact). */
  ourPayloads: string[]
}

/** Deterministic credentials for a seed: key, tokens (valid, refused, foreign), basic passwords and their links. */
export async function mintCredentials(seed: number): Promise<Credentials> {
  const derive = (label: string) => createHash('sha256').update(`preview-fuzz:${seed}:${label}`).digest()
  const key = new Uint8Array(derive('key'))
  const otherKey = new Uint8Array(derive('other-key'))
  const sign = (claims: {sub: string; jti: string; exp: number}, k: Uint8Array, alg = 'HS256') =>
    new SignJWT({})
      .setProtectedHeader({alg, typ: 'JWT'})
      .setSubject(claims.sub)
      .setJti(claims.jti)
      .setIssuedAt(1_700_000_000)
      .setExpirationTime(claims.exp)
      .sign(k)
  const links: LinkRecordLike[] = []
  const link = (jti: string, extra: Partial<LinkRecordLike> = {}) =>
    links.push({auth_mode: 'token', expires_at_epoch: FAR, jti, revoked: false, ...extra})
  link('valid-0')
  link('valid-1')
  link('revoked', {revoked: true})
  link('expired')
  link('other-preview')
  const valid = [await sign({exp: FAR, jti: 'valid-0', sub: PREVIEW_ID}, key), await sign({exp: FAR, jti: 'valid-1', sub: PREVIEW_ID}, key)]
  const signedRefused = [
    await sign({exp: FAR, jti: 'revoked', sub: PREVIEW_ID}, key),
    await sign({exp: 1_000_000_000, jti: 'expired', sub: PREVIEW_ID}, key),
    await sign({exp: FAR, jti: 'unknown', sub: PREVIEW_ID}, key),
    await sign({exp: FAR, jti: 'other-preview', sub: OTHER_ID}, key),
    await sign({exp: FAR, jti: 'valid-0', sub: PREVIEW_ID}, key, 'HS512'),
  ]
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const foreign = [
    await sign({exp: FAR, jti: 'valid-0', sub: PREVIEW_ID}, otherKey),
    `${b64({alg: 'none', typ: 'JWT'})}.${b64({exp: FAR, jti: 'valid-0', sub: PREVIEW_ID})}.`,
    `${valid[0]!.split('.')[0]}.${b64({exp: FAR + 1, jti: 'valid-0', sub: PREVIEW_ID})}.${valid[0]!.split('.')[2]}`,
    'not-a-jwt',
    'a.b.c',
  ]
  const password = (label: string) => derive(label).toString('base64url').slice(0, 32)
  const basicValid = [password('pw-0'), password('pw-1')]
  const basicRefused = [password('pw-revoked'), password('pw-expired')]
  const sha = (s: string) => createHash('sha256').update(s).digest('hex')
  links.push(
    {auth_mode: 'basic', expires_at_epoch: FAR, jti: 'basic-0', password_sha256: sha(basicValid[0]!), revoked: false},
    {auth_mode: 'basic', expires_at_epoch: FAR, jti: 'basic-1', password_sha256: sha(basicValid[1]!), revoked: false},
    {auth_mode: 'basic', expires_at_epoch: FAR, jti: 'basic-r', password_sha256: sha(basicRefused[0]!), revoked: true},
    {auth_mode: 'basic', expires_at_epoch: 1_000_000_000, jti: 'basic-e', password_sha256: sha(basicRefused[1]!), revoked: false},
  )
  // A sanity check on the oracle: our signatures are what an HMAC of header.payload under our key gives.
  for (const t of valid) {
    const dot = t.lastIndexOf('.')
    if (createHmac('sha256', key).update(t.slice(0, dot)).digest('base64url') !== t.slice(dot + 1))
      throw new Error('token minting is broken')
  }

  return {
    basicRefused,
    basicUser: BASIC_USER,
    basicValid,
    cookieName: `preview_${PREVIEW_ID}`,
    foreign,
    key,
    links,
    otherCookieName: `preview_${OTHER_ID}`,
    ourPayloads: [...valid, ...signedRefused].map((t) => t.split('.')[1]!),
    ourSignatures: [...valid, ...signedRefused].map((t) => t.slice(t.lastIndexOf('.') + 1)),
    previewId: PREVIEW_ID,
    signedRefused,
    valid,
    validSet: new Set(valid),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Recording servers

interface Parsed {
  kind: 'request' | 'upgrade' | 'connect'
  method: string
  url: string
  headers: [string, string][]
  body: Buffer[]
  complete: boolean
  /** The server closes the connection after answering it (Connection: close, HTTP/1.0): later bytes are not parsed. */
  closes: boolean
}

interface Sink {
  requests: Parsed[]
  errors: string[]
  /** Index of the request after which the connection became a raw tunnel (upgrade or CONNECT). */
  tunnelAt: number | null
  tunnel: Buffer[]
}

const newSink = (): Sink => ({errors: [], requests: [], tunnel: [], tunnelAt: null})

interface Recorder {
  port: number
  open: number
  accepted: number
  /** Bumped on every event the server sees (connection, request, data, error, close). */
  activity: number
  sink: Sink
  close(): Promise<void>
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!])
  return out
}

/** A node:http server that records what its parser made of the bytes it got, and answers each request at once. */
async function startRecorder(): Promise<Recorder> {
  const server = http.createServer({maxHeaderSize: 80 * 1024, requireHostHeader: false}, (req, res) => {
    const p: Parsed = {
      body: [],
      closes: !res.shouldKeepAlive,
      complete: false,
      headers: pairs(req.rawHeaders),
      kind: 'request',
      method: req.method ?? '',
      url: req.url ?? '',
    }
    rec.sink.requests.push(p)
    rec.activity += 1
    req.on('data', (d: Buffer) => {
      rec.activity += 1
      p.body.push(d)
    })
    req.on('end', () => {
      rec.activity += 1
      p.complete = true
      res.writeHead(200, {'content-length': '0', 'x-up': '1'})
      res.end()
    })
    req.on('error', () => {})
  })
  // An end from the gateway must not abort requests already parsed (their answers are written first).
  ;(server as unknown as {httpAllowHalfOpen: boolean}).httpAllowHalfOpen = true
  const tunnel = (kind: 'upgrade' | 'connect', req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const sink = rec.sink
    rec.activity += 1
    sink.requests.push({
      body: [],
      closes: true,
      complete: true,
      headers: pairs(req.rawHeaders),
      kind,
      method: req.method ?? '',
      url: req.url ?? '',
    })
    sink.tunnelAt = sink.requests.length - 1
    if (head.length > 0) sink.tunnel.push(head)
    socket.on('data', (d: Buffer) => {
      rec.activity += 1
      sink.tunnel.push(d)
    })
    socket.on('end', () => socket.end())
    socket.on('error', () => socket.destroy())
    socket.write(
      kind === 'upgrade'
        ? 'HTTP/1.1 101 Switching Protocols\r\nX-Up: 1\r\nConnection: Upgrade\r\nUpgrade: fuzz\r\n\r\n'
        : 'HTTP/1.1 200 Connection Established\r\nX-Up: 1\r\n\r\n',
    )
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => tunnel('upgrade', req, socket, head))
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => tunnel('connect', req, socket, head))
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    rec.activity += 1
    rec.sink.errors.push(err.code ?? err.message)
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nX-Up: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
    else socket.destroy()
  })
  server.on('connection', (socket: net.Socket) => {
    rec.open += 1
    rec.accepted += 1
    rec.activity += 1
    socket.on('close', () => {
      rec.open -= 1
      rec.activity += 1
    })
  })
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const rec: Recorder = {
    accepted: 0,
    activity: 0,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
      })
    },
    open: 0,
    port: (server.address() as net.AddressInfo).port,
    sink: newSink(),
  }
  return rec
}

// ---------------------------------------------------------------------------------------------------------------
// Lanes and cases

interface Lane {
  up: Recorder
  ref: Recorder
  gateways: Record<GatewayMode, GatewayUnderTest>
  forwarded: Forwarded[]
}

async function startLane(startGateway: StartGateway, creds: Credentials): Promise<Lane> {
  const up = await startRecorder()
  const ref = await startRecorder()
  const lane: Lane = {forwarded: [], gateways: {} as Record<GatewayMode, GatewayUnderTest>, ref, up}
  for (const mode of ['token', 'basic', 'none'] as const) {
    const gw = await startGateway({
      auth: {jwtKey: creds.key, links: creds.links, mode, previewId: creds.previewId},
      onForwarded: (r) => lane.forwarded.push(r),
      targetPort: up.port,
    })
    gw.setPublicUrl(PUBLIC_URL)
    lane.gateways[mode] = gw
  }

  return lane
}

/** Writes the chunks one event-loop turn apart (so the reader sees them as separate reads), then ends; resolves on close. */
function send(port: number, chunks: Buffer[]): Promise<{received: Buffer; timedOut: boolean}> {
  return new Promise((resolve) => {
    const received: Buffer[] = []
    let timedOut = false
    const socket = net.connect({host: '127.0.0.1', noDelay: true, port})
    const timer = setTimeout(() => {
      timedOut = true
      socket.destroy()
    }, CONNECTION_MS)
    socket.on('data', (d: Buffer) => received.push(d))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({received: Buffer.concat(received), timedOut})
    })
    socket.on('connect', () => {
      let i = 0
      const next = () => {
        if (socket.destroyed) return
        if (i === chunks.length) {
          socket.end()
          return
        }

        socket.write(chunks[i++]!)
        setImmediate(next)
      }

      next()
    })
  })
}

/**
 * Waits until the lane's servers are quiet: no open connection and nothing new over one timer tick (a poll phase
 * in between, so a connection the gateway opened last is accepted by then); or, for a gateway that keeps upstream
 * connections open (a pool), nothing new for STILL_MS. Bounded by QUIET_MS.
 */
async function quiet(lane: Lane): Promise<void> {
  const deadline = Date.now() + QUIET_MS
  let seen = -1
  let stillSince = Date.now()
  while (Date.now() < deadline) {
    const activity = lane.up.activity + lane.ref.activity
    if (activity !== seen) stillSince = Date.now()
    else if ((lane.up.open === 0 && lane.ref.open === 0) || Date.now() - stillSince >= STILL_MS) return
    seen = activity
    await new Promise((r) => setTimeout(r, 1))
  }
}

export interface Observation {
  forwarded: Forwarded[]
  up: Sink
  ref: Sink
  /** What the client got back from the gateway. */
  received: Buffer
  timedOut: boolean
}

async function runCase(lane: Lane, c: FuzzCase): Promise<Observation> {
  const up = newSink()
  const ref = newSink()
  lane.up.sink = up
  lane.ref.sink = ref
  lane.forwarded = []
  const forwarded = lane.forwarded
  const chunks = chunksOf(c)
  const [viaGateway] = await Promise.all([send(lane.gateways[c.mode].port, chunks), send(lane.ref.port, chunks)])
  await quiet(lane)
  return {forwarded, received: viaGateway.received, ref, timedOut: viaGateway.timedOut, up}
}

// ---------------------------------------------------------------------------------------------------------------
// The properties

export interface Divergence {
  kind: string
  detail: string
}

interface Response {
  status: number
  headers: [string, string][]
}

/**
 * The responses in what the client received; stops at a 101, a response without Content-Length, or bad bytes.
 * `methods` are the requests' methods in order (llhttp's parse): the answer to a HEAD has no body.
 */
function parseResponses(buf: Buffer, methods: string[]): {responses: Response[]; unparsable: boolean; bodyOnHead: boolean} {
  const responses: Response[] = []
  let final = 0
  let off = 0
  while (off < buf.length) {
    const end = buf.indexOf('\r\n\r\n', off, 'latin1')
    if (end === -1) return {bodyOnHead: false, responses, unparsable: true}
    const lines = buf.toString('latin1', off, end).split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)
    if (!m) return {bodyOnHead: false, responses, unparsable: true}
    const headers = lines.slice(1).map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()])
    const status = Number(m[1])
    responses.push({headers, status})
    off = end + 4
    if (status === 101) break
    if (status >= 100 && status < 200) continue
    const cl = headers.find(([n]) => n.toLowerCase() === 'content-length')
    if (!cl) break
    if (methods[final++] !== 'HEAD') off += Number(cl[1])
    else if (off < buf.length && buf.toString('latin1', off, off + 5) !== 'HTTP/') return {bodyOnHead: true, responses, unparsable: false}
  }

  return {bodyOnHead: false, responses, unparsable: false}
}

const header = (p: {headers: [string, string][]}, name: string) => p.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v)

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function firstTokenParam(target: string): {index: number; params: string[]; base: string; value: string} | null {
  const q = target.indexOf('?')
  if (q === -1) return null
  const params = target.slice(q + 1).split('&')
  const index = params.findIndex((p) => p.startsWith('token='))
  if (index === -1) return null
  let value = params[index]!.slice(6)
  try {
    value = decodeURIComponent(value)
  } catch {
    // as sent
  }

  return {base: target.slice(0, q), index, params, value}
}

/** Did this request, as llhttp parsed it from the client's bytes, carry credentials that are valid exactly as issued? */
function authenticated(p: Parsed, mode: GatewayMode, creds: Credentials): boolean {
  if (mode === 'none') return true
  if (mode === 'basic') {
    return header(p, 'authorization').some((v) => {
      const m = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(v)
      if (!m) return false
      const decoded = Buffer.from(m[1]!, 'base64')
      if (decoded.toString('base64') !== m[1]) return false
      return creds.basicValid.some((pw) => decoded.toString('utf8') === `${creds.basicUser}:${pw}`)
    })
  }

  for (const v of header(p, 'cookie')) {
    for (const part of v.split(';')) {
      const eq = part.indexOf('=')
      if (eq !== -1 && part.slice(0, eq).trim() === creds.cookieName && creds.validSet.has(part.slice(eq + 1).trim())) return true
    }
  }

  if (header(p, 'authorization').some((v) => creds.validSet.has(/^bearer +(.*)$/i.exec(v)?.[1]?.trim() ?? ''))) return true
  const param = firstTokenParam(p.url)
  return param !== null && creds.validSet.has(param.value)
}

/** The targets the gateway may forward for one llhttp parsed: absolute form reduced to its path, our token taken out. */
function expectedTargets(url: string, creds: Credentials): Set<string> {
  const out = new Set<string>()
  const bases = [url]
  const abs = /^https?:\/\/[^/?#]*/i.exec(url)
  if (abs) {
    const rest = url.slice(abs[0].length)
    bases.length = 0
    bases.push(rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`, '/')
  }

  for (const b of bases) {
    out.add(b)
    // The gateway takes out every token= parameter that carries a token of ours (docs/gateway.md), not only the first.
    const q = b.indexOf('?')
    if (q !== -1) {
      const kept = b
        .slice(q + 1)
        .split('&')
        .filter((p) => {
          const eq = p.indexOf('=')
          if (eq === -1 || safeDecode(p.slice(0, eq)) !== 'token') return true
          const v = safeDecode(p.slice(eq + 1))
          return ![...creds.valid, ...creds.signedRefused].some((t) => v.includes(t))
        })
      out.add(kept.length > 0 ? `${b.slice(0, q)}?${kept.join('&')}` : b.slice(0, q))
    }

    const param = firstTokenParam(b)
    if (param !== null && creds.validSet.has(param.value)) {
      const params = param.params.filter((_, i) => i !== param.index)
      out.add(params.length > 0 ? `${param.base}?${params.join('&')}` : param.base)
    }
  }

  return out
}

const PARSE_CLOSED = new Set(['HPE_CLOSED_CONNECTION'])
const isParseError = (code: string) => code.startsWith('HPE_') && !PARSE_CLOSED.has(code)
const bodyOf = (p: Parsed) => Buffer.concat(p.body)
/** A byte string as JSON, bytes above 0x7e escaped too (\u0080), so a repro pastes back byte for byte. */
export function jsonBytes(s: string): string {
  return JSON.stringify(s).replaceAll(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

const show = (s: string | Buffer) => jsonBytes(typeof s === 'string' ? s : s.toString('latin1'))

export function check(obs: Observation, c: FuzzCase, creds: Credentials): Divergence[] {
  const out: Divergence[] = []
  const add = (kind: string, detail: string) => out.push({detail, kind})
  const G = obs.forwarded
  const U = obs.up.requests
  const R = obs.ref.requests
  const {responses, unparsable, bodyOnHead} = parseResponses(
    obs.received,
    R.map((r) => r.method),
  )
  const fromUpstream = (r: Response) => r.headers.some(([n, v]) => n.toLowerCase() === 'x-up' && v === '1')
  const final = responses.filter((r) => r.status >= 200 || r.status === 101)
  const own = final.filter((r) => !fromUpstream(r))
  const refused = own.length > 0
  // The client's k-th request got the k-th final response. A gateway that answers a request itself and keeps the
  // connection open shifts the forwarded ones: forwarded request #i is the client's request #rIndex(i). (Answers
  // of its own after the last upstream one say nothing: the gateway may have dropped upstream answers to close.)
  const ownBefore: number[] = []
  let seenOwn = 0
  for (const r of final) {
    if (fromUpstream(r)) ownBefore.push(seenOwn)
    else seenOwn += 1
  }

  const rIndex = (i: number) => i + (ownBefore[i] ?? ownBefore.at(-1) ?? 0)
  if (obs.timedOut) add('hang', `the gateway kept the connection open ${CONNECTION_MS} ms after the client ended it`)

  // P1: upstream parsed exactly what the gateway forwarded, in order.
  for (const [i, u] of U.entries()) {
    const g = G[i]
    if (!g) {
      // The request the gateway is still forwarding (its body never ended): reported only once complete.
      if (i === G.length && i === U.length - 1 && !u.complete) break
      add('upstream-parsed-unforwarded', `upstream parsed request #${i} ${u.method} ${show(u.url)} that the gateway never forwarded`)
      break
    }

    if (u.method !== g.method)
      add('upstream-differs:method', `#${i}: gateway forwarded ${show(g.method)}, upstream parsed ${show(u.method)}`)
    if (u.url !== g.target) add('upstream-differs:target', `#${i}: gateway forwarded ${show(g.target)}, upstream parsed ${show(u.url)}`)
    if (JSON.stringify(u.headers) !== JSON.stringify(g.headers)) {
      add(
        'upstream-differs:headers',
        `#${i}: gateway forwarded ${jsonBytes(JSON.stringify(g.headers))}, upstream parsed ${jsonBytes(JSON.stringify(u.headers))}`,
      )
    }

    const ub = bodyOf(u)
    const bodyOk = u.complete ? ub.equals(g.body) : refused && g.body.subarray(0, ub.length).equals(ub)
    if (!bodyOk)
      add(
        'upstream-differs:body',
        `#${i}: gateway forwarded body ${show(g.body)}, upstream parsed ${show(ub)}${u.complete ? '' : ' (incomplete)'}`,
      )
  }

  if (U.length < G.length) {
    const code = obs.up.errors.find(isParseError)
    if (code !== undefined)
      add(`upstream-refused-forwarded:${code}`, `upstream's parser refused request #${U.length} the gateway forwarded (${code})`)
    else if (obs.up.tunnelAt !== null && obs.up.tunnelAt < G.length - 1) {
      add(
        'forwarded-after-tunnel',
        `upstream made the connection a tunnel at request #${obs.up.tunnelAt}, the gateway kept forwarding requests`,
      )
    }
  }

  // P2: llhttp, fed the client's bytes directly, parses each forwarded request the same way.
  for (const [i, g] of G.entries()) {
    const r = R[rIndex(i)]
    if (!r) {
      const code = obs.ref.errors.find(isParseError)
      if (obs.ref.errors.some((e) => PARSE_CLOSED.has(e)) || R.at(-1)?.closes) break
      if (code !== undefined)
        add(
          `accepted-what-llhttp-refused:${code}`,
          `the gateway forwarded request #${i} ${g.method} ${show(g.target)}; llhttp refused it (${code})`,
        )
      else if (obs.ref.tunnelAt !== null && obs.ref.tunnelAt < i)
        add('forwarded-after-tunnel', `llhttp made request #${obs.ref.tunnelAt} a tunnel; the gateway forwarded #${i} as HTTP`)
      else add('reference-missing', `the gateway forwarded request #${i} ${g.method} ${show(g.target)}; llhttp did not parse it`)
      break
    }

    if (r.method !== g.method) add('reference-differs:method', `#${i}: gateway ${show(g.method)}, llhttp ${show(r.method)}`)
    if (!expectedTargets(r.url, creds).has(g.target))
      add('reference-differs:target', `#${i}: gateway forwarded ${show(g.target)}, llhttp parsed ${show(r.url)}`)
    const rb = bodyOf(r)
    if (!r.complete || !rb.equals(g.body))
      add(
        'reference-differs:body',
        `#${i}: gateway forwarded body ${show(g.body)}, llhttp parsed ${show(rb)}${r.complete ? '' : ' (incomplete)'}`,
      )
  }

  if (obs.up.tunnelAt !== null && obs.up.tunnelAt === obs.ref.tunnelAt) {
    const a = Buffer.concat(obs.up.tunnel)
    const b = Buffer.concat(obs.ref.tunnel)
    if (!a.equals(b)) add('tunnel-bytes-differ', `upstream's tunnel got ${show(a)}, llhttp's ${show(b)}`)
  }

  // P3: nothing of ours reaches the app; nothing unauthenticated does.
  for (const [i, u] of U.entries()) {
    const r = R[rIndex(i)]
    if (!r || !authenticated(r, c.mode, creds)) {
      // Which kind of almost-credential got it through: a token of ours bent out of shape, basic credentials, none.
      const raw = r ? `${r.url}\n${r.headers.map(([n, v]) => `${n}: ${v}`).join('\n')}` : ''
      const sort = !r
        ? 'unparsed'
        : creds.ourPayloads.some((p) => raw.includes(p))
          ? 'bent-token'
          : /authorization: basic/i.test(raw)
            ? 'bent-basic'
            : 'no-credential'
      add(`unauthenticated-reached-app:${sort}`, `request #${i} ${u.method} ${show(u.url)} reached the app without valid credentials`)
    }
    for (const v of header(u, 'cookie')) {
      for (const part of v.split(';')) {
        const name = part.slice(0, Math.max(0, part.indexOf('='))).trim()
        if (name.startsWith('preview_')) add('leak:preview-cookie', `#${i}: the app got cookie ${show(name)}`)
      }
    }

    if (c.mode === 'token') {
      for (const v of header(u, 'authorization')) {
        // A token of ours, whole (a forged payload next to a copied signature verifies under no key).
        if ([...creds.valid, ...creds.signedRefused].some((t) => v.includes(t)))
          add('leak:our-token-in-authorization', `#${i}: the app got Authorization ${show(v)}`)
      }

      const param = firstTokenParam(u.url)
      if (param !== null && creds.validSet.has(param.value)) add('leak:token-param', `#${i}: the app got target ${show(u.url)}`)
    }

    if (c.mode === 'basic') {
      for (const v of header(u, 'authorization')) {
        const decoded = Buffer.from(v.replace(/^basic +/i, ''), 'base64').toString('utf8')
        if ([...creds.basicValid, ...creds.basicRefused].some((pw) => decoded.includes(pw)))
          add('leak:basic-credentials', `#${i}: the app got Authorization ${show(v)}`)
      }
    }
  }

  // P4: the gateway's own responses carry nothing unvalidated.
  for (const r of own) {
    for (const [n, v] of r.headers) {
      const name = n.toLowerCase()
      if (name === 'set-cookie') {
        const m = /^([^=;]*)=([^;]*)(;|$)/.exec(v)
        if (!m || m[1] !== creds.cookieName || (m[2] !== '' && !creds.validSet.has(m[2]!)))
          add('response:set-cookie', `the gateway answered ${r.status} with Set-Cookie ${show(v)}`)
      }

      if (name === 'location' && !/^\/(?![/\\])[^\s]*$/.test(v))
        add('response:location', `the gateway answered ${r.status} with Location ${show(v)}`)
    }
  }

  if (bodyOnHead) add('response:body-on-HEAD', `the client got ${show(obs.received)}: a body after the answer to a HEAD`)
  if (unparsable && !obs.timedOut && U.length === 0 && G.length === 0) {
    add('response:unparsable', `the client got ${show(obs.received)} from the gateway`)
  }

  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Runner

export interface DivergenceClass {
  kind: string
  /** Cases that showed it. */
  count: number
  detail: string
  /** The shrunk case: auth mode, the whole stream as a JSON-escaped byte string, and its TCP writes. */
  repro: {mode: GatewayMode; stream: string; writes: string[]}
}

export interface FuzzResult {
  cases: number
  seed: number
  lanes: number
  divergentCases: number
  classes: DivergenceClass[]
  durationMs: number
}

export interface FuzzOptions {
  startGateway: StartGateway
  cases: number
  seed: number
  /** Cases in flight at once (each lane has its own gateways and servers). */
  lanes?: number
  /** Total time allowed for shrinking, all classes together (default 30 s; 0: no shrinking). */
  shrinkMs?: number
  /** Well-formed traffic only (generators.ts): the harness's own noise check. */
  wellFormed?: boolean
  log?: (line: string) => void
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now()
  const laneCount = opts.lanes ?? 8
  const creds = await mintCredentials(opts.seed)
  const lanes = await Promise.all(Array.from({length: laneCount}, () => startLane(opts.startGateway, creds)))
  const arb = caseArbitrary(creds, {wellFormed: opts.wellFormed})
  const first = new Map<string, {seed: number; path: number; value: FuzzCase; detail: string; count: number}>()
  let done = 0
  let divergentCases = 0
  const log = opts.log ?? (() => {})
  const progressEvery = Math.max(10_000, Math.floor(opts.cases / 20))
  try {
    await Promise.all(
      lanes.map(async (lane, l) => {
        const numRuns = Math.floor(opts.cases / laneCount) + (l < opts.cases % laneCount ? 1 : 0)
        if (numRuns === 0) return
        const seed = (opts.seed + l * 7919) | 0
        let run = 0
        const result = await fc.check(
          fc.asyncProperty(arb, async (c) => {
            const path = run++
            const found = check(await runCase(lane, c), c, creds)
            done += 1
            if (done % progressEvery === 0) log(`gateway fuzz: ${done}/${opts.cases} cases, ${first.size} divergence classes so far`)
            if (found.length > 0) divergentCases += 1
            for (const d of found.filter((x, i) => found.findIndex((y) => y.kind === x.kind) === i)) {
              const seen = first.get(d.kind)
              if (seen) seen.count += 1
              else first.set(d.kind, {count: 1, detail: d.detail, path, seed, value: c})
            }

            return true
          }),
          {numRuns, seed},
        )
        if (result.failed) throw new Error(`fuzz lane ${l} failed: ${String(result.errorInstance)}`)
      }),
    )

    // Shrink one case per class, the lanes sharing the classes; the predicate keeps the class, so each repro
    // stays on its topic. Within the time allowed: past it, the smallest case found so far is the repro.
    const todo = [...first.entries()].sort(([a], [b]) => a.localeCompare(b))
    const classes: DivergenceClass[] = []
    const rounds = Math.ceil(todo.length / laneCount)
    const budget = Math.floor((opts.shrinkMs ?? 30_000) / Math.max(1, rounds))
    await Promise.all(
      lanes.map(async (lane) => {
        for (let next = todo.shift(); next !== undefined; next = todo.shift()) {
          const [kind, f] = next
          const stopAt = Date.now() + budget
          let detail = f.detail
          if (budget <= 0) {
            classes.push({
              count: f.count,
              detail,
              kind,
              repro: {mode: f.value.mode, stream: streamOf(f.value), writes: chunksOf(f.value).map((b) => b.toString('latin1'))},
            })
            continue
          }

          const result = await fc.check(
            fc.asyncProperty(arb, async (c) => {
              if (Date.now() > stopAt) return true
              const d = check(await runCase(lane, c), c, creds).find((x) => x.kind === kind)
              if (d) detail = d.detail
              return d === undefined
            }),
            {path: String(f.path), seed: f.seed},
          )
          const value = result.failed && result.counterexample ? result.counterexample[0] : f.value
          classes.push({
            count: f.count,
            detail,
            kind,
            repro: {mode: value.mode, stream: streamOf(value), writes: chunksOf(value).map((b) => b.toString('latin1'))},
          })
        }
      }),
    )
    classes.sort((a, b) => a.kind.localeCompare(b.kind))

    return {cases: done, classes, divergentCases, durationMs: Date.now() - started, lanes: laneCount, seed: opts.seed}
  } finally {
    for (const lane of lanes) {
      await Promise.all(Object.values(lane.gateways).map((g) => g.close()))
      await lane.up.close()
      await lane.ref.close()
    }
  }
}

/** Runs one stream (a repro) and returns what each side saw and the divergences: FUZZ_REPLAY in the test. */
export async function replay(
  startGateway: StartGateway,
  seed: number,
  mode: GatewayMode,
  stream: string,
): Promise<{observation: unknown; divergences: Divergence[]}> {
  const creds = await mintCredentials(seed)
  const lane = await startLane(startGateway, creds)
  try {
    const c: FuzzCase = {mode, requests: [stream], splits: []}
    const obs = await runCase(lane, c)
    const text = (b: Buffer | Buffer[]) => (Array.isArray(b) ? Buffer.concat(b) : b).toString('latin1')
    const sink = (s: Sink) => ({...s, requests: s.requests.map((r) => ({...r, body: text(r.body)})), tunnel: text(s.tunnel)})
    const observation = {
      forwarded: obs.forwarded.map((f) => ({...f, body: f.body.toString('latin1')})),
      received: obs.received.toString('latin1'),
      reference: sink(obs.ref),
      timedOut: obs.timedOut,
      upstream: sink(obs.up),
    }
    return {divergences: check(obs, c, creds), observation}
  } finally {
    await Promise.all(Object.values(lane.gateways).map((g) => g.close()))
    await lane.up.close()
    await lane.ref.close()
  }
}

/** One line per class, repro as JSON-escaped bytes, for logs and FUZZ.md. */
export function describe(result: FuzzResult): string[] {
  const lines = [
    `gateway fuzz: ${result.cases} cases, seed ${result.seed}, ${result.divergentCases} divergences (${result.classes.length} classes), ${(result.durationMs / 1000).toFixed(1)} s`,
  ]
  for (const c of result.classes) {
    lines.push(`  ${c.kind} (${c.count} cases; mode ${c.repro.mode}): ${c.detail}`, `    repro: ${jsonBytes(c.repro.stream)}`)
    if (c.repro.writes.length > 1) lines.push(`    writes: [${c.repro.writes.map((w) => jsonBytes(w)).join(', ')}]`)
  }

  return lines
}
