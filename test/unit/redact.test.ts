// redactUrl's shortcut for the token links preview mints gives the bytes the URL parser gives, for every URL near
// its edges (hosts that parse as IPv4, default ports, dot segments, punycode, query forms) and arbitrary ones.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {redactUrl} from '../../src/core/records/redact.js'

/** The redaction through the WHATWG URL parser alone (what redactUrl did for every URL before the shortcut). */
function parsed(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    if (u.searchParams.has('token')) u.searchParams.set('token', '***')
    return u.toString()
  } catch {
    return url
  }
}

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs)
const SCHEMES = ['http', 'https', 'HTTPS', 'ftp', 'ws'] as const
const HOSTS = [
  'localhost',
  'abc-example.trycloudflare.com',
  'a.b.c',
  'Example.com',
  'x',
  'a1',
  '1a',
  '-a.com',
  'a-.com',
  'xn--nxasmq6b.com',
  'xn--a',
  'a..com',
  'a.com.',
  '127.0.0.1',
  '127.1',
  '010.0.0.1',
  '0x7f.0.0.1',
  '256.1.1.1',
  '1.2.3.04',
  '1.2.3',
  '99.com',
  'a.123',
  'a.0x1',
  'user:pw@h.com',
  'h.com:pw@x.com',
  '[::1]',
  'a%41.com',
] as const
const PORTS = ['', ':0', ':1', ':80', ':443', ':8080', ':65535', ':65536', ':080', ':99999'] as const
const PATHS = [
  '',
  '/',
  '/a',
  '/a/',
  '/a/./b',
  '/a/../b',
  '/.',
  '/..',
  '/./',
  '/.a',
  '/a.b/',
  '//x',
  '/%2e/',
  '/a b',
  '/~u',
  '/A_b-c',
] as const
const QUERIES = [
  '?token=abc',
  '?token=',
  '?token=a+b',
  '?token=a%20b',
  '?token=eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.sig-_',
  '?a=1&token=x',
  '?token=x&a=1',
  '?token=x#f',
  '?tok=1',
  '?token=x~',
  '?token=xn--q',
  '',
] as const

describe('redactUrl', () => {
  it('hides the token and a basic password', () => {
    expect(redactUrl('https://abc.trycloudflare.com/?token=eyJ.a.b')).toBe('https://abc.trycloudflare.com/?token=***')
    expect(redactUrl('http://127.0.0.1:4000/?token=t')).toBe('http://127.0.0.1:4000/?token=***')
    expect(redactUrl('https://preview:s3cret@abc.example.com/')).toBe('https://preview:***@abc.example.com/')
    expect(redactUrl(null)).toBe(null)
    expect(redactUrl('not a url')).toBe('not a url')
  })

  it('the shortcut for minted token links gives what the URL parser gives, near its edges', () => {
    fc.assert(
      fc.property(pick(SCHEMES), pick(HOSTS), pick(PORTS), pick(PATHS), pick(QUERIES), (s, h, p, path, q) => {
        const url = `${s}://${h}${p}${path}${q}`
        return redactUrl(url) === parsed(url)
      }),
      {numRuns: 5000},
    )
  })

  it('and for arbitrary strings shaped like URLs', () => {
    const chars = fc.string({unit: pick([...'aZ09.-_~/:?=&#%+@xn-'.split(''), 'token=', '://', 'http', 'https'])})
    fc.assert(
      fc.property(chars, (tail) => redactUrl(`https://${tail}`) === parsed(`https://${tail}`)),
      {numRuns: 5000},
    )
    fc.assert(
      fc.property(
        fc.stringMatching(/^https?:\/\/[a-z0-9.-]{1,12}(:[0-9]{1,6})?\/[A-Za-z0-9_.~/-]{0,8}\?token=[A-Za-z0-9_.-]{0,8}$/),
        (url) => {
          return redactUrl(url) === parsed(url)
        },
      ),
      {numRuns: 5000},
    )
  })
})
