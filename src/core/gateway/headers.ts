// The header passes: what goes upstream is re-serialized from the parsed head, never copied from the client's
// bytes. Hop-by-hop fields go; forwarding fields are ours to set; Host, Origin and Referer are rewritten to the dev
// server's own (so Vite/webpack host checks pass); our credentials (any preview's cookie, our tokens, our basic
// password) are taken out; the user's own cookies and Authorization pass.
import type {RequestHead} from './parse.js'

export const PUBLIC_HOST_HEADER = 'X-Preview-Public-Host'
export const PUBLIC_PROTO_HEADER = 'X-Preview-Public-Proto'

/** Never forwarded: hop-by-hop fields, and the forwarding fields the gateway sets itself (a client must not spoof them). */
const DROPPED = new Set([
  'forwarded',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'x-forwarded-host',
  'x-forwarded-proto',
])

/** The fields of a head the gateway acts on, picked out once. */
export interface Picked {
  authorization: string | null
  cookies: string[] | null
  origin: string | null
  referer: string | null
  secFetchSite: string | null
  forwardedFor: string | null
}

/** Picks out the fields the gateway acts on; a second Authorization or Origin is ambiguous (which did the app read?). */
export function pick(head: RequestHead): Picked | string {
  const p: Picked = {authorization: null, cookies: null, forwardedFor: null, origin: null, referer: null, secFetchSite: null}
  for (const [name, value] of head.headers) {
    const c = name.charCodeAt(0) | 0x20
    if (c !== 0x61 && c !== 0x63 && c !== 0x6f && c !== 0x72 && c !== 0x73 && c !== 0x78) continue // a c o r s x
    switch (name.toLowerCase()) {
      case 'authorization': {
        if (p.authorization !== null) return 'Repeated Authorization.'
        p.authorization = value
        break
      }

      case 'cookie': {
        ;(p.cookies ??= []).push(value)
        break
      }

      case 'origin': {
        if (p.origin !== null) return 'Repeated Origin.'
        p.origin = value
        break
      }

      case 'referer': {
        if (p.referer !== null) return 'Repeated Referer.'
        p.referer = value
        break
      }

      case 'sec-fetch-site': {
        p.secFetchSite = value
        break
      }

      case 'x-forwarded-for': {
        p.forwardedFor = p.forwardedFor === null ? value : `${p.forwardedFor}, ${value}`
        break
      }

      default:
    }
  }

  return p
}

export interface UpstreamContext {
  /** `localhost:<dev port>`: the Host, Origin and X-Forwarded-Host the dev server sees. */
  localHost: string
  /** Client address (X-Forwarded-For). */
  peer: string
  publicHost: string | null
  publicProto: string
  /** Referer prefixes (the public origin, the gateway's own) rewritten to the local origin. */
  refererOrigins: (string | null)[]
  /** Leave out Accept-Encoding (a script response is rewritten on its way back). */
  identityEncoding: boolean
  stripAuthorization: boolean
  /** Cookie header values to send, without any preview_* cookie. */
  cookies: string[] | null
}

/** The request head as the dev server gets it, as [name, value] pairs (the request line apart). */
export function upstreamHeaders(head: RequestHead, p: Picked, ctx: UpstreamContext): [string, string][] {
  const out: [string, string][] = [['Host', ctx.localHost]]
  const named = head.connection
  const local = `http://${ctx.localHost}`
  for (const pair of head.headers) {
    const lower = pair[0].toLowerCase()
    if (DROPPED.has(lower) || lower.startsWith('x-preview-')) continue
    if (named.length > 0 && named.includes(lower)) continue
    switch (lower) {
      case 'authorization': {
        if (!ctx.stripAuthorization) out.push(pair)
        break
      }

      case 'cookie':
      case 'x-forwarded-for': {
        break // added once below
      }

      case 'origin': {
        out.push([pair[0], local])
        break
      }

      case 'referer': {
        out.push([pair[0], rewriteReferer(pair[1], ctx.refererOrigins, local)])
        break
      }

      case 'accept-encoding': {
        if (!ctx.identityEncoding) out.push(pair)
        break
      }

      default: {
        out.push(pair)
      }
    }
  }

  if (ctx.cookies !== null && ctx.cookies.length > 0) out.push(['Cookie', ctx.cookies.join('; ')])
  if (head.chunked) out.push(['Transfer-Encoding', 'chunked'])
  else if (head.contentLength !== null) out.push(['Content-Length', String(head.contentLength)])
  const keep: string[] = []
  if (named.includes('close')) keep.push('close')
  else if (named.includes('keep-alive')) keep.push('keep-alive')
  if (head.upgrade !== null) keep.push('Upgrade')
  if (keep.length > 0) out.push(['Connection', keep.join(', ')])
  if (head.upgrade !== null) out.push(['Upgrade', 'websocket'])
  out.push(
    ['X-Forwarded-For', p.forwardedFor === null ? ctx.peer : `${p.forwardedFor}, ${ctx.peer}`],
    ['X-Forwarded-Host', ctx.localHost],
    ['X-Forwarded-Proto', 'http'],
  )
  if (ctx.publicHost !== null) out.push([PUBLIC_HOST_HEADER, ctx.publicHost], [PUBLIC_PROTO_HEADER, ctx.publicProto])
  return out
}

export function serializeHead(method: string, target: string, version: string, headers: [string, string][]): string {
  let s = `${method} ${target} ${version}\r\n`
  for (const [name, value] of headers) s += `${name}: ${value}\r\n`
  return `${s}\r\n`
}

function rewriteReferer(referer: string, origins: (string | null)[], local: string): string {
  for (const o of origins) {
    if (o !== null && referer.startsWith(o) && (referer.length === o.length || referer[o.length] === '/')) {
      return local + referer.slice(o.length)
    }
  }

  return referer
}
