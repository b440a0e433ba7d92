// Generators for the gateway's differential fuzzer: client byte streams, valid, edge-case and hostile.
// Every value is a plain latin1 string (one char per byte) so a case prints as a JSON-escaped byte string.
import {existsSync, readFileSync} from 'node:fs'
import fc from 'fast-check'

/**
 * Extra requests to mine, when a local corpus file is present (test/fuzz/llhttp-corpus.json, {"cases": [...]}, not
 * committed: third-party test data stays out of this repository). Without it the generators alone run.
 */
const CORPUS_FILE = new URL('llhttp-corpus.json', import.meta.url)
const LLHTTP_CORPUS = existsSync(CORPUS_FILE) ? (JSON.parse(readFileSync(CORPUS_FILE, 'utf8')) as {cases: string[]}).cases : []

/** The credentials a run mints (deterministic for a seed, see harness.ts mintCredentials). */
export interface FuzzCredentials {
  previewId: string
  cookieName: string
  /** Another preview's cookie name: browsers share one cookie jar across the ports of localhost. */
  otherCookieName: string
  /** Tokens that verify for this preview, exactly as issued. */
  valid: string[]
  /** Signed with our key but refused: expired, revoked, unknown link, other preview. */
  signedRefused: string[]
  /** Not ours: another key, alg none, HS512, garbage. */
  foreign: string[]
  /** Basic mode: live passwords, and revoked/expired ones. */
  basicValid: string[]
  basicRefused: string[]
  basicUser: string
}

export type GatewayMode = 'token' | 'basic' | 'none'

export interface FuzzCase {
  mode: GatewayMode
  /** Each request's raw bytes (a hostile one may not be a request at all). */
  requests: string[]
  /** TCP write sizes; the rest of the stream goes in one last write. */
  splits: number[]
}

/** The whole client stream of a case. */
export function streamOf(c: FuzzCase): string {
  return c.requests.join('')
}

/** The stream cut into the case's TCP writes. */
export function chunksOf(c: FuzzCase): Buffer[] {
  const bytes = Buffer.from(streamOf(c), 'latin1')
  const out: Buffer[] = []
  let off = 0
  for (const n of c.splits) {
    if (off >= bytes.length) break
    out.push(bytes.subarray(off, off + n))
    off += n
  }

  if (off < bytes.length) out.push(bytes.subarray(off))
  return out
}

const CTL = ['\n', '\r', '\t', '\u0000', '\u0001', '\u007f', '\u0080', '\u00ff', ' ', '\r\n', '\u000b', '\u000c']

/** Inserts one of `bytes` at a random place in `s` (a frequent source of parser disagreements). */
function injected(base: fc.Arbitrary<string>, bytes: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(base, bytes, fc.nat()).map(([s, b, at]) => {
    const i = s.length === 0 ? 0 : at % (s.length + 1)
    return s.slice(0, i) + b + s.slice(i)
  })
}

/** Shrinking may move to an earlier alternative: each oneof lists its simplest one first. */
const CROSS = {withCrossShrink: true}

/** `arb` in about one case out of `oneIn`, else `nil`. */
function sometimes<T, N>(arb: fc.Arbitrary<T>, oneIn: number, nil: N): fc.Arbitrary<T | N> {
  return fc.oneof(CROSS, {arbitrary: fc.constant(nil), weight: oneIn - 1}, {arbitrary: arb, weight: 1})
}

const smallText = fc.stringMatching(/^[a-zA-Z0-9 _.=;,:/-]{0,12}$/)

/** Token variants: exact, and the malleations a lenient decoder accepts. */
function tokenVariant(creds: FuzzCredentials): fc.Arbitrary<string> {
  const mine = fc.constantFrom(...creds.valid)
  const anyOfOurs = fc.constantFrom(...creds.valid, ...creds.signedRefused)
  const mutate = (t: string, how: number, at: number): string => {
    const sig = t.lastIndexOf('.') + 1
    const i = sig + (at % (t.length - sig))
    switch (how) {
      case 0: {
        return `${t}=`
      }

      case 1: {
        return `${t}==`
      }

      case 2: {
        return `${t.slice(0, i)}!${t.slice(i)}`
      }

      case 3: {
        return `${t.slice(0, i)}*${t.slice(i)}`
      }

      case 4: {
        return t.replaceAll('-', '+').replaceAll('_', '/')
      }

      case 5: {
        // The last base64url character of a 32-byte signature carries 2 padding bits: flip them.
        const last = t.at(-1)!
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
        const v = alphabet.indexOf(last)
        return t.slice(0, -1) + alphabet[(v & ~3) | ((v + 1) & 3)]
      }

      case 6: {
        return t.slice(0, -1)
      }

      case 7: {
        return `${t}%3D%0D%0ASet-Cookie:%20sessionid=x`
      }

      case 8: {
        return t.replaceAll('.', '%2E')
      }

      case 9: {
        return ` ${t}`
      }

      default: {
        return `${t}.`
      }
    }
  }

  return fc.oneof(
    CROSS,
    {arbitrary: mine, weight: 8},
    {arbitrary: fc.tuple(mine, fc.integer({max: 10, min: 0}), fc.nat()).map(([t, how, at]) => mutate(t, how, at)), weight: 4},
    {arbitrary: anyOfOurs, weight: 2},
    {arbitrary: fc.constantFrom(...creds.foreign), weight: 2},
  )
}

function basicVariant(creds: FuzzCredentials): fc.Arbitrary<string> {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
  const pw = fc.constantFrom(...creds.basicValid)
  return fc.oneof(
    CROSS,
    {arbitrary: pw.map((p) => `Basic ${b64(`${creds.basicUser}:${p}`)}`), weight: 6},
    {arbitrary: pw.map((p) => `basic  ${b64(`${creds.basicUser}:${p}`).replace(/=+$/, '')}`), weight: 1},
    {arbitrary: pw.map((p) => `Basic ${b64(`${creds.basicUser}:${p}`)}!!`), weight: 1},
    {arbitrary: pw.map((p) => `Basic ${b64(`other:${p}`)}`), weight: 1},
    {arbitrary: fc.constantFrom(...creds.basicRefused).map((p) => `Basic ${b64(`${creds.basicUser}:${p}`)}`), weight: 1},
    {arbitrary: fc.constant('Basic dXNlcjpwYXNz'), weight: 1},
  )
}

/** A Cookie header's value: ours, other previews', the app's own. */
function cookieValue(creds: FuzzCredentials): fc.Arbitrary<string> {
  const pair = fc.oneof(
    CROSS,
    {arbitrary: tokenVariant(creds).map((t) => `${creds.cookieName}=${t}`), weight: 6},
    {arbitrary: tokenVariant(creds).map((t) => `${creds.otherCookieName}=${t}`), weight: 2},
    {arbitrary: tokenVariant(creds).map((t) => ` ${creds.cookieName} = ${t}`), weight: 1},
    {arbitrary: fc.constantFrom('app=1', 'session=abc', 'theme=dark', 'preview_x=1', 'a=b=c', 'flag'), weight: 3},
  )
  return fc.array(pair, {maxLength: 3, minLength: 1}).map((ps) => ps.join('; '))
}

/** A request target: path, query (with or without `token=`), optional absolute form, optional CTL byte. */
function target(creds: FuzzCredentials): fc.Arbitrary<string> {
  const path = fc.constantFrom('/', '/a', '/upload', '/x/y.js', '//evil.test/x', '/\\evil.test', '/%2e%2e/etc', '/a;b', '*', '/é')
  const param = fc.oneof(
    CROSS,
    {arbitrary: tokenVariant(creds).map((t) => `token=${t}`), weight: 4},
    {arbitrary: fc.constantFrom('a=1', 'token=vite-own', 'b=', 'x=%0d%0a', 'tok=1', 'TOKEN=x', ''), weight: 3},
  )
  const query = sometimes(
    fc.array(param, {maxLength: 3, minLength: 1}).map((ps) => `?${ps.join('&')}`),
    2,
    '',
  )
  const absolute = sometimes(
    fc.constantFrom('http://evil.example', 'https://localhost:1', 'HTTP://evil.example', 'http://a@b', 'http://x'),
    8,
    '',
  )
  const plain = fc.tuple(absolute, path, query).map(([a, p, q]) => `${a}${p}${q}`)
  return fc.oneof(
    CROSS,
    {arbitrary: plain, weight: 10},
    {arbitrary: injected(plain, fc.constantFrom(...CTL, '\nOrigin:https://evil.example', '\nX: y')), weight: 2},
  )
}

const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'get', 'TRACE', 'PRI', 'M-SEARCH', 'G\u0000T', 'X']

/** Connection header tokens, framing and credential headers among them (hop-by-hop by declaration). */
const CONNECTION_TOKENS = [
  'keep-alive',
  'close',
  'upgrade',
  'content-length',
  'transfer-encoding',
  'Content-Length',
  'host',
  'cookie',
  'authorization',
  'origin',
  'x-a',
  'te',
  'upgrade, content-length',
]

/** One header line without its line ending. */
function headerLine(creds: FuzzCredentials): fc.Arbitrary<string> {
  const valueish = fc.oneof(
    CROSS,
    {arbitrary: smallText, weight: 6},
    {arbitrary: injected(smallText, fc.constantFrom(...CTL, '\nOrigin: https://evil.example', '\nContent-Length: 5')), weight: 2},
  )
  return fc.oneof(
    CROSS,
    {arbitrary: fc.constantFrom('Host: localhost:3000', 'Host: evil.example', 'host:x', 'Host:', 'Host: a, b'), weight: 3},
    {arbitrary: cookieValue(creds).map((v) => `Cookie: ${v}`), weight: 5},
    {arbitrary: tokenVariant(creds).map((t) => `Authorization: Bearer ${t}`), weight: 4},
    {arbitrary: tokenVariant(creds).map((t) => `authorization: bearer  ${t} `), weight: 1},
    {arbitrary: basicVariant(creds).map((v) => `Authorization: ${v}`), weight: 2},
    {arbitrary: fc.constantFrom('Authorization: Bearer app-own-token', 'Authorization: Basic dXNlcjpwYXNz'), weight: 1},
    {
      arbitrary: fc.array(fc.constantFrom(...CONNECTION_TOKENS), {maxLength: 3, minLength: 1}).map((ts) => `Connection: ${ts.join(', ')}`),
      weight: 4,
    },
    {arbitrary: fc.constantFrom('Upgrade: websocket', 'Upgrade: h2c', 'Upgrade:'), weight: 2},
    {arbitrary: fc.constantFrom('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'), weight: 1},
    {
      arbitrary: fc.constantFrom(
        'Origin: https://pub.example',
        'Origin: https://evil.example',
        'Origin: null',
        'Referer: https://pub.example/a',
        'Referer: https://evil.example/',
        'Sec-Fetch-Site: cross-site',
      ),
      weight: 2,
    },
    {
      arbitrary: fc.constantFrom(
        'X-Forwarded-For: 10.0.0.1',
        'X-Forwarded-Host: evil.example',
        'X-Forwarded-Proto: https',
        'Forwarded: for=1.2.3.4;host=evil.example',
        'X-Preview-Public-Host: evil.example',
        'X-Preview-Refusal: none',
        'Proxy-Connection: keep-alive',
        'Proxy-Authorization: Basic eDp5',
        'Keep-Alive: timeout=5',
        'TE: trailers',
        'Expect: 100-continue',
        'Accept-Encoding: gzip',
        'Accept: */*',
      ),
      weight: 3,
    },
    {arbitrary: valueish.map((v) => `X-A: ${v}`), weight: 3},
    {
      // Malformed lines: whitespace before the colon, obs-fold, no colon, empty or bad names.
      arbitrary: fc.constantFrom(
        'X-B : y',
        'X-B\t: y',
        ' folded',
        '\tfolded: x',
        'NoColon',
        ': empty-name',
        'X\u0001B: y',
        'X B: y',
        'Transfer-Encoding : chunked',
        'Content-Length : 3',
        'Host : evil.example',
        'X-É: y',
      ),
      weight: 2,
    },
  )
}

/** A body and the framing headers that announce it (or fail to). */
function framing(): fc.Arbitrary<{headers: string[]; body: string}> {
  const smuggled = fc.constantFrom(
    'GET /smuggled HTTP/1.1\r\nHost: evil.example\r\nOrigin: https://evil.example\r\n\r\n',
    'GET /smuggled HTTP/1.1\r\n\r\n',
    'POST /smuggled HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi',
  )
  const payload = fc.oneof(
    CROSS,
    {arbitrary: fc.stringMatching(/^[a-z0-9]{1,16}$/), weight: 4},
    {arbitrary: smuggled, weight: 3},
    {arbitrary: fc.constantFrom('0\r\n\r\n', '\r\n', 'a\r\n\r\n', 'x'.repeat(300)), weight: 1},
  )
  const clValue = (n: number) =>
    fc.constantFrom(
      `${n}`,
      `${n}`,
      `${n}`,
      ` ${n} `,
      `0${n}`,
      `+${n}`,
      `${n},${n}`,
      `${n}, ${n + 1}`,
      `${n + 1}`,
      `${Math.max(0, n - 1)}`,
      `-1`,
      `0x${n.toString(16)}`,
    )
  const contentLength = payload.chain((body) =>
    fc.tuple(clValue(body.length), sometimes(clValue(body.length), 5, null)).map(([v, dup]) => ({
      body,
      headers: dup === null ? [`Content-Length: ${v}`] : [`Content-Length: ${v}`, `Content-Length: ${dup}`],
    })),
  )
  const teValue = fc.constantFrom(
    'chunked',
    'chunked',
    'chunked',
    'Chunked',
    'chunked ',
    'identity, chunked',
    'chunked, identity',
    'gzip',
    'gzip, chunked',
    '\tchunked',
    'chunked;x=1',
  )
  const chunk = fc
    .tuple(
      payload,
      fc.constantFrom('', '', '', ';ext=1', ' ', ';x'),
      fc.constantFrom('\r\n', '\r\n', '\r\n', '\n'),
      fc.integer({max: 1, min: -1}),
      fc.boolean(),
    )
    .map(([data, ext, eol, off, upper]) => {
      const size = Math.max(0, data.length + (off === 0 || data.length < 2 ? 0 : off))
      const hex = upper ? size.toString(16).toUpperCase() : size.toString(16)
      return `${hex}${ext}${eol}${data}\r\n`
    })
  const lastChunk = fc.constantFrom(
    '0\r\n\r\n',
    '0\r\n\r\n',
    '0\r\n\r\n',
    '0\r\nTrailer: x\r\n\r\n',
    '000\r\n\r\n',
    '0\n\n',
    '0\r\n',
    '0;x\r\n\r\n',
    '0\r\nBad Trailer\r\n\r\n',
  )
  const chunkedBody = fc.tuple(fc.array(chunk, {maxLength: 3}), lastChunk).map(([cs, last]) => cs.join('') + last)
  const chunked = fc
    .tuple(
      teValue,
      chunkedBody,
      sometimes(
        fc.constantFrom('Content-Length: 5', 'Content-Length: 0', 'Transfer-Encoding: chunked', 'Transfer-Encoding: identity'),
        4,
        null,
      ),
    )
    .map(([te, body, extra]) => ({body, headers: extra === null ? [`Transfer-Encoding: ${te}`] : [`Transfer-Encoding: ${te}`, extra]}))
  return fc.oneof(
    CROSS,
    {arbitrary: fc.constant({body: '', headers: [] as string[]}), weight: 5},
    {arbitrary: contentLength, weight: 4},
    {arbitrary: chunked, weight: 3},
  )
}

/** One request's bytes. */
function request(creds: FuzzCredentials): fc.Arbitrary<string> {
  const method = fc.oneof(
    CROSS,
    {arbitrary: fc.constantFrom('GET', 'POST'), weight: 6},
    {arbitrary: fc.constantFrom(...METHODS), weight: 2},
  )
  const version = fc.oneof(
    CROSS,
    {arbitrary: fc.constant('HTTP/1.1'), weight: 12},
    {arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1.10', 'HTTP/0.9'), weight: 1},
  )
  const sep = fc.oneof(CROSS, {arbitrary: fc.constant(' '), weight: 20}, {arbitrary: fc.constantFrom('  ', '\t'), weight: 1})
  const eol = fc.oneof(CROSS, {arbitrary: fc.constant('\r\n'), weight: 30}, {arbitrary: fc.constantFrom('\n', '\r'), weight: 1})
  const line = fc.tuple(headerLine(creds), eol).map(([l, e]) => l + e)
  // The credential usually comes first so most requests get past the gateway and reach the parsers behind it.
  const credential = fc.oneof(
    CROSS,
    {arbitrary: fc.constant(null), weight: 1},
    {arbitrary: tokenVariant(creds).map((t) => `Authorization: Bearer ${t}`), weight: 2},
    {arbitrary: cookieValue(creds).map((v) => `Cookie: ${v}`), weight: 2},
    {arbitrary: basicVariant(creds).map((v) => `Authorization: ${v}`), weight: 1},
  )
  return fc
    .record({
      before: fc.array(line, {maxLength: 4}),
      after: fc.array(line, {maxLength: 2}),
      credential,
      end: eol,
      framing: framing(),
      framingEol: eol,
      host: fc.oneof(CROSS, {arbitrary: fc.constant('Host: localhost\r\n'), weight: 6}, {arbitrary: fc.constant(''), weight: 1}),
      leading: sometimes(fc.constantFrom('\r\n', '\n', ' '), 20, ''),
      method,
      requestEol: eol,
      sep,
      target: target(creds),
      // A WebSocket-style upgrade now and then (then the bytes after the head are the tunnel's).
      upgrade: sometimes(
        fc.constantFrom(
          'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n',
          'Connection: keep-alive, upgrade\r\nUpgrade: h2c\r\n',
        ),
        10,
        '',
      ),
      // Bare LF for every line of the head (RFC 9112 allows a server to accept it; the gateway must not misframe).
      bareLf: sometimes(fc.constant(true), 25, false),
      version,
    })
    .map((r) => {
      const head =
        `${r.leading}${r.method}${r.sep}${r.target}${r.sep}${r.version}${r.requestEol}` +
        r.host +
        (r.credential === null ? '' : `${r.credential}\r\n`) +
        r.upgrade +
        r.before.join('') +
        r.framing.headers.map((h) => h + r.framingEol).join('') +
        r.after.join('') +
        r.end
      return (r.bareLf ? head.replaceAll('\r\n', '\n') : head) + r.framing.body
    })
}

/**
 * Well-formed traffic only: exact tokens (one credential per request), plain targets, correct framing, pipelined and
 * split at random. Any gateway must pass it with no divergence: it is how the harness shows it has no noise of its own.
 */
function wellFormedRequest(creds: FuzzCredentials): fc.Arbitrary<string> {
  const token = fc.constantFrom(...creds.valid)
  const credential = fc.oneof(
    CROSS,
    token.map((t) => `Authorization: Bearer ${t}\r\n`),
    token.map((t) => `Cookie: app=1; ${creds.cookieName}=${t}\r\n`),
    token.map((t) => `Cookie: ${creds.cookieName}=${t}\r\n`),
  )
  const line = fc.constantFrom(
    'Accept: */*',
    'X-A: b',
    'Cookie: app=1',
    'Origin: https://pub.example',
    'Referer: https://pub.example/a',
    'Connection: keep-alive',
    'Authorization: Basic dXNlcjpwYXNz',
  )
  const payload = fc.oneof(CROSS, fc.stringMatching(/^[a-z0-9]{1,16}$/), fc.constant('GET /not-a-request HTTP/1.1\r\n\r\n'))
  const body = fc.oneof(
    CROSS,
    fc.constant({body: '', headers: ''}),
    payload.map((b) => ({body: b, headers: `Content-Length: ${b.length}\r\n`})),
    fc.array(payload, {maxLength: 3}).map((cs) => ({
      body: `${cs.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`,
      headers: 'Transfer-Encoding: chunked\r\n',
    })),
  )
  return fc
    .record({
      body,
      credential,
      lines: fc.array(line, {maxLength: 3}),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
      path: fc.constantFrom('/', '/a', '/x/y.js', '/a?b=1&c=2', '/a?token=vite-own', 'http://evil.example/abs'),
    })
    .map(
      (r) =>
        `${r.method} ${r.path} HTTP/1.1\r\nHost: localhost\r\n${r.credential}${r.lines.map((l) => `${l}\r\n`).join('')}${r.body.headers}\r\n${r.body.body}`,
    )
}

/** A request from llhttp's corpus, usually with one of our credentials put in after its first line. */
function corpusRequest(creds: FuzzCredentials): fc.Arbitrary<string> {
  const credential = fc.oneof(
    CROSS,
    fc.constantFrom(...creds.valid).map((t) => `Authorization: Bearer ${t}\r\n`),
    fc.constantFrom(...creds.valid).map((t) => `Cookie: ${creds.cookieName}=${t}\r\n`),
    fc.constant(''),
  )
  return fc.tuple(fc.constantFrom(...LLHTTP_CORPUS), credential).map(([raw, cred]) => {
    const eol = raw.indexOf('\r\n')
    return eol === -1 ? raw : raw.slice(0, eol + 2) + cred + raw.slice(eol + 2)
  })
}

export function caseArbitrary(creds: FuzzCredentials, opts: {wellFormed?: boolean} = {}): fc.Arbitrary<FuzzCase> {
  if (opts.wellFormed) {
    // A WebSocket upgrade can only come last: what follows its head is the tunnel's.
    const upgrade = fc
      .constantFrom(...creds.valid)
      .map(
        (t) =>
          `GET /ws HTTP/1.1\r\nHost: localhost\r\nCookie: ${creds.cookieName}=${t}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      )
    return fc.record({
      mode: fc.constant<GatewayMode>('token'),
      requests: fc
        .tuple(fc.array(wellFormedRequest(creds), {maxLength: 4, minLength: 1}), sometimes(upgrade, 6, null))
        .map(([rs, u]) => (u === null ? rs : [...rs, u])),
      splits: fc.array(fc.integer({max: 400, min: 1}), {maxLength: 6}),
    })
  }

  const mode = fc.oneof(
    CROSS,
    {arbitrary: fc.constant<GatewayMode>('token'), weight: 8},
    {arbitrary: fc.constant<GatewayMode>('basic'), weight: 1},
    {arbitrary: fc.constant<GatewayMode>('none'), weight: 1},
  )
  const garbage = fc.constantFrom('\r\n', 'x', 'GET', 'HTTP/1.1 200 OK\r\n\r\n', '\u0000\u0000')
  const one =
    LLHTTP_CORPUS.length > 0
      ? fc.oneof(CROSS, {arbitrary: request(creds), weight: 6}, {arbitrary: corpusRequest(creds), weight: 1})
      : request(creds)
  const requests = fc
    .tuple(fc.array(one, {maxLength: 3, minLength: 1}), sometimes(garbage, 10, null))
    .map(([rs, g]) => (g === null ? rs : [...rs, g]))
  return fc.record({
    mode,
    requests,
    splits: fc.array(fc.integer({max: 400, min: 1}), {maxLength: 4}),
  })
}
