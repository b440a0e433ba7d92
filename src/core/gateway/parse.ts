import {METHODS} from 'node:http'

// The request-head parser: pure, synchronous, strict RFC 9112. Whatever it accepts, Node's own parser (llhttp) reads
// the same way, because the gateway forwards only what it parsed, re-serialized from the parts below. Anything a
// lenient parser might read differently is refused (400) and the connection closed: bare CR or LF, CTL bytes in the
// target or in header values, obsolete line folding, whitespace before a colon, two Hosts, two or malformed
// Content-Lengths, Transfer-Encoding other than exactly `chunked`, both framings at once, and `Connection` naming a
// header the gateway acts on (framing, Host, credentials, Origin). test/fuzz/ holds this against llhttp.

/** Largest request head accepted (431 beyond). */
export const MAX_HEAD_BYTES = 64 * 1024
/** Most header fields in one head (431 beyond). */
export const MAX_HEADERS = 256

export interface RequestHead {
  method: string
  /** origin-form (`/path?query`) or `*` (OPTIONS); absolute-form is reduced to origin-form. */
  target: string
  version: 'HTTP/1.1' | 'HTTP/1.0'
  /** Every field except those the parser consumed (Host, Content-Length, Transfer-Encoding, Connection, Upgrade), in order; values trimmed. */
  headers: [string, string][]
  /** The Host header's value (or the authority of an absolute-form target); null when absent (HTTP/1.0). */
  host: string | null
  contentLength: number | null
  chunked: boolean
  /** Lower-cased tokens of every Connection field. */
  connection: string[]
  /** `websocket` when this is a WebSocket upgrade request (GET, Connection: upgrade, Upgrade: websocket); else null. */
  upgrade: string | null
}

export type HeadResult = {ok: true; head: RequestHead} | {ok: false; status: number; reason: string}

/**
 * The methods llhttp knows (node:http's METHODS): it refuses any other token, so a method only the gateway
 * accepted could frame differently upstream. CONNECT is refused anyway; PRI is HTTP/2's preface, not a method.
 */
const KNOWN_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT' && m !== 'PRI'))

/** Headers a client may not declare hop-by-hop: the gateway frames, routes and authenticates on them. */
const NOT_HOP_BY_HOP = new Set([
  'authorization',
  'content-length',
  'cookie',
  'host',
  'origin',
  'referer',
  'sec-fetch-site',
  'transfer-encoding',
])

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 48; c <= 57; c++) TCHAR[c] = 1
for (let c = 65; c <= 90; c++) TCHAR[c] = 1
for (let c = 97; c <= 122; c++) TCHAR[c] = 1

function isToken(s: string, from: number, to: number): boolean {
  if (to <= from) return false
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c > 127 || TCHAR[c] === 0) return false
  }

  return true
}

/** Visible ASCII only (RFC 9112 request-target): no space, no CTL, no DEL, no bytes above 0x7E. */
function isTarget(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }

  return s.length > 0
}

/** field-content: VCHAR, SP, HTAB and obs-text; no CTL (CR, LF, NUL…) and no DEL. */
function isFieldValue(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false
  }

  return true
}

/**
 * Where the head that starts at `off` ends (the index just past its blank line), -1 while incomplete, or -2 when a
 * line ends in a bare LF (refused at once instead of waiting for a CRLFCRLF that never comes).
 */
export function findHeadEnd(data: Buffer, off: number): number {
  let lineStart = off
  for (;;) {
    const nl = data.indexOf(10, lineStart)
    if (nl === -1) return -1
    if (nl === off || data[nl - 1] !== 13) return -2
    if (nl - 1 === lineStart) return lineStart === off ? -2 : nl + 1
    lineStart = nl + 1
  }
}

type Refused = Extract<HeadResult, {ok: false}>

function bad(reason: string, status = 400): Refused {
  return {ok: false, reason, status}
}

interface RequestLine {
  method: string
  target: string
  version: 'HTTP/1.1' | 'HTTP/1.0'
  /** The authority of an absolute-form target (it stands for Host). */
  absoluteHost: string | null
}

/** `method SP target SP version`, each part strict; absolute-form reduced to origin-form. */
function parseRequestLine(text: string, lineEnd: number): RequestLine | {ok: false; status: number; reason: string} {
  const sp1 = text.indexOf(' ')
  const sp2 = sp1 === -1 || sp1 > lineEnd ? -1 : text.indexOf(' ', sp1 + 1)
  if (sp1 <= 0 || sp2 === -1 || sp2 >= lineEnd) return {ok: false, reason: 'Bad request line.', status: 400}
  const sp3 = text.indexOf(' ', sp2 + 1)
  if (sp3 !== -1 && sp3 < lineEnd) return {ok: false, reason: 'Bad request line.', status: 400}
  const method = text.slice(0, sp1)
  if (!KNOWN_METHODS.has(method)) return {ok: false, reason: 'Unknown request method.', status: method === 'CONNECT' ? 501 : 400}
  let target = text.slice(sp1 + 1, sp2)
  const version = text.slice(sp2 + 1, lineEnd)
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0')
    return {ok: false, reason: 'Unsupported HTTP version.', status: version.startsWith('HTTP/') ? 505 : 400}
  if (!isTarget(target)) return {ok: false, reason: 'Bad request target.', status: 400}
  let absoluteHost: string | null = null
  if (target.charCodeAt(0) !== 47 /* / */) {
    if (target === '*') {
      if (method !== 'OPTIONS') return {ok: false, reason: 'Bad request target.', status: 400}
    } else {
      const m = /^https?:\/\/([^/?#@]+)([/?].*)?$/i.exec(target)
      if (!m) return {ok: false, reason: 'Bad request target.', status: 400}
      absoluteHost = m[1]!
      const rest = m[2] ?? '/'
      target = rest.startsWith('?') ? `/${rest}` : rest
    }
  }

  if (target.includes('#')) return {ok: false, reason: 'Bad request target.', status: 400}
  return {absoluteHost, method, target, version}
}

/** The body's framing and the upgrade, from the fields that decide them; refused when ambiguous or unsupported. */
function framing(
  method: string,
  version: RequestLine['version'],
  contentLength: string | null,
  transferEncoding: string | null,
  upgradeValue: string | null,
  connection: string[],
): {chunked: boolean; length: number | null; upgrade: string | null} | Refused {
  let length: number | null = null
  let chunked = false
  if (transferEncoding !== null) {
    if (contentLength !== null) return bad('Both Content-Length and Transfer-Encoding.')
    if (version === 'HTTP/1.0') return bad('Transfer-Encoding in an HTTP/1.0 request.')
    if (transferEncoding.toLowerCase() !== 'chunked') return bad('Only chunked Transfer-Encoding is supported.', 501)
    chunked = true
  } else if (contentLength !== null) {
    if (!/^\d{1,15}$/.test(contentLength)) return bad('Bad Content-Length.')
    length = Number(contentLength)
  }

  let upgrade: string | null = null
  if (upgradeValue !== null && connection.includes('upgrade')) {
    // Only WebSocket: an h2c (or other) upgrade would turn the connection into a channel of requests the gateway never sees.
    if (upgradeValue.toLowerCase() !== 'websocket') return bad('Only WebSocket upgrades are supported.', 501)
    if (method !== 'GET') return bad('A WebSocket upgrade must be a GET.')
    if (chunked || (length !== null && length > 0)) return bad('An upgrade request cannot carry a body.')
    upgrade = 'websocket'
  }

  return {chunked, length, upgrade}
}

/** Parses a request head: `text` is latin1, from the request line through the final CRLF CRLF (exclusive of the last CRLF). */
export function parseRequestHead(text: string): HeadResult {
  const lineEnd = text.indexOf('\r\n')
  if (lineEnd === -1) return bad('Bad request line.')
  const line = parseRequestLine(text, lineEnd)
  if ('ok' in line) return line
  const {absoluteHost, method, target, version} = line
  const headers: [string, string][] = []
  let host: string | null = null
  let hosts = 0
  let contentLength: string | null = null
  let transferEncoding: string | null = null
  let upgradeValue: string | null = null
  const connection: string[] = []
  let pos = lineEnd + 2
  let count = 0
  while (pos < text.length) {
    const eol = text.indexOf('\r\n', pos)
    const end = eol === -1 ? text.length : eol
    if (++count > MAX_HEADERS) return bad('Too many header fields.', 431)
    const first = text.charCodeAt(pos)
    if (first === 0x20 || first === 0x09) return bad('Obsolete line folding is not accepted.')
    const colon = text.indexOf(':', pos)
    if (colon === -1 || colon >= end) return bad('Bad header line.')
    if (!isToken(text, pos, colon)) return bad('Bad header name.')
    let vs = colon + 1
    let ve = end
    while (vs < ve && (text.charCodeAt(vs) === 0x20 || text.charCodeAt(vs) === 0x09)) vs++
    while (ve > vs && (text.charCodeAt(ve - 1) === 0x20 || text.charCodeAt(ve - 1) === 0x09)) ve--
    if (!isFieldValue(text, vs, ve)) return bad('Bad header value.')
    const name = text.slice(pos, colon)
    const value = text.slice(vs, ve)
    pos = end + 2
    switch (
      name.length === 4 || name.length === 7 || name.length === 10 || name.length === 14 || name.length === 17 ? name.toLowerCase() : ''
    ) {
      case 'host': {
        hosts += 1
        host = value
        continue
      }

      case 'content-length': {
        if (contentLength !== null) return bad('Repeated Content-Length.')
        contentLength = value
        continue
      }

      case 'transfer-encoding': {
        if (transferEncoding !== null) return bad('Repeated Transfer-Encoding.')
        transferEncoding = value
        continue
      }

      case 'connection': {
        for (const part of value.split(',')) {
          const t = part.trim().toLowerCase()
          if (t === '') continue
          if (!isToken(t, 0, t.length)) return bad('Bad Connection header.')
          if (NOT_HOP_BY_HOP.has(t)) return bad(`Connection may not name ${t}.`)
          connection.push(t)
        }

        continue
      }

      case 'upgrade': {
        if (upgradeValue !== null) return bad('Repeated Upgrade.')
        upgradeValue = value
        continue
      }

      default: {
        headers.push([name, value])
      }
    }
  }

  if (version === 'HTTP/1.1' && hosts !== 1) return bad(hosts === 0 ? 'Missing Host header.' : 'Repeated Host header.')
  if (hosts > 1) return bad('Repeated Host header.')
  if (absoluteHost !== null) host = absoluteHost

  const framed = framing(method, version, contentLength, transferEncoding, upgradeValue, connection)
  if ('ok' in framed) return framed
  const {chunked, length, upgrade} = framed
  return {head: {chunked, connection, contentLength: length, headers, host, method, target, upgrade, version}, ok: true}
}
