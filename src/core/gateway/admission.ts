// May a request in: the route's credential (a token link, its cookie, the basic password, or none), a token in the
// URL traded for a cookie by a redirect, and the CSRF check of the real Origin (the dev server only ever sees a
// local one). Pure: the connection acts on the verdict.
import {authenticate, takeOurTokens, takePreviewCookies, type Grant, type RefusalKind} from './auth.js'
import type {Picked} from './headers.js'
import type {RequestHead} from './parse.js'
import type {Route} from './types.js'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * `path`: the target without our token (the request log). `grant`: the credential that let the request in (the
 * connection closes when it is revoked or expires); undefined when none was found.
 */
export type Admission =
  | {kind: 'refuse'; path: string; grant?: Grant | null; refusal: RefusalKind; clearCookie: boolean}
  | {kind: 'redirect'; path: string; grant: Grant | null; location: string; token: string}
  | {kind: 'forward'; path: string; grant: Grant | null; target: string; cookies: string[] | null; stripAuthorization: boolean}

/** The origins the gateway itself is reached at: the route's public one, and its own loopback address. */
function originAllowed(origin: string, route: Route, listenPort: number): boolean {
  if (origin === route.publicOrigin) return true
  return origin === `http://127.0.0.1:${listenPort}` || origin === `http://localhost:${listenPort}`
}

export function admit(route: Route, head: RequestHead, picked: Picked, hasBody: boolean, listenPort: number): Admission {
  const authority = route.authority
  const jar = picked.cookies === null ? null : takePreviewCookies(picked.cookies, authority.cookieName)
  const ourTokens = authority.mode === 'none' && !head.target.includes('token') ? null : takeOurTokens(head.target, authority)
  const auth = authenticate(authority, head.target, picked.authorization, jar?.own ?? [], ourTokens, Date.now() / 1000)
  if (!auth.ok) return {clearCookie: auth.clearCookie, kind: 'refuse', path: ourTokens?.rest ?? head.target, refusal: auth.refusal}
  const {grant, target} = auth
  if (auth.consumedToken !== null && (head.method === 'GET' || head.method === 'HEAD') && head.upgrade === null && !hasBody) {
    // One leading slash only: `//evil.test/` would be a protocol-relative redirect off the preview.
    return {grant, kind: 'redirect', location: `/${target.replace(/^[/\\]+/, '')}`, path: target, token: auth.consumedToken}
  }

  // CSRF: the dev server will only ever see a local Origin, so the gateway checks the real one.
  if (
    (picked.origin !== null && !originAllowed(picked.origin, route, listenPort)) ||
    (picked.origin === null && picked.secFetchSite === 'cross-site' && !SAFE_METHODS.has(head.method))
  )
    return {clearCookie: false, grant, kind: 'refuse', path: target, refusal: 'origin'}
  return {
    cookies: jar === null ? picked.cookies : jar.rest,
    grant,
    kind: 'forward',
    path: target,
    stripAuthorization: auth.stripAuthorization || authority.mode === 'basic',
    target,
  }
}
