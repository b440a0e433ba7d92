// The auth part of the gateway: link checks (token or basic), the session cookie, and what of the client's
// credentials must not reach the app. Synchronous: token signatures are checked once and their verdicts cached;
// expiry and revocation are checked live on every request.
import {createHash, timingSafeEqual} from 'node:crypto'
import {BASIC_USER, checkTokenSync, signedByUs, type TokenCheck} from '../records/credentials.js'
import type {AuthMode, LinkRecord} from '../records/types.js'

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

export const REFUSAL_STATUS: Record<RefusalKind, number> = {
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

export const REFUSAL_TEXT: Record<RefusalKind, string> = {
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

/** Least time between two re-reads of the links triggered by unknown credentials. */
export const RELOAD_MIN_MS = 200
/** Token verdicts kept in memory; cleared when full so forged tokens cannot grow it without bound. */
const TOKEN_CACHE_MAX = 2048
/** Leeway for clock skew on `nbf`. */
const CLOCK_SKEW_SECONDS = 30
/** A JWT-shaped run of characters (three base64url segments, an HS256-sized signature). */
const JWT_LIKE = /[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{43}/g
/** Every preview's session cookie starts so; none of them ever reaches an app. */
export const COOKIE_PREFIX = 'preview_'

/** The credential a request was let in with: a connection that used it is closed when it is revoked or expires. */
export interface Grant {
  jti: string
  exp: number
}

export type TokenVerdict = ({ok: true} & Grant) | {ok: false; refusal: RefusalKind}

/** Link checks for one preview, shared by every connection. */
export class Authority {
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
    this.cookieName = `${COOKIE_PREFIX}${auth.previewId.replaceAll(/[^A-Za-z0-9_-]/g, '_')}`
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

  /** Bumped whenever the links change: a connection re-checks its grant only then (or when it expires). */
  version = 0

  setLinks(links: LinkRecord[]): void {
    if (!Array.isArray(links)) return
    this.version += 1
    const valid = links.filter((l) => l !== null && typeof l === 'object' && typeof l.jti === 'string')
    this.links = new Map(valid.map((l) => [l.jti, l]))
    this.basic = valid
      .filter((l) => typeof l.password_sha256 === 'string' && /^[0-9a-f]{64}$/.test(l.password_sha256))
      .map((l) => ({hash: Buffer.from(l.password_sha256!, 'hex'), link: l}))
  }

  private verdict(token: string): TokenCheck {
    let verdict = this.cache.get(token)
    if (verdict === undefined) {
      verdict = checkTokenSync(token, this.key, this.previewId)
      if (this.cache.size >= TOKEN_CACHE_MAX) this.cache.clear()
      this.cache.set(token, verdict)
    }

    return verdict
  }

  /** True when the token carries our key's signature, whichever preview it names (so it must not reach any app). */
  isOurs(token: string): boolean {
    return signedByUs(this.verdict(token))
  }

  /**
   * True when a value holds one of our tokens anywhere in it: `Bearer <token>=`, `<token>!` and the like are not
   * tokens as issued (they are refused), but they carry a live one, so they must not reach the app either.
   */
  containsOurs(value: string): boolean {
    if (value.length < 50 || value.indexOf('.') === -1) return false
    for (const m of value.matchAll(JWT_LIKE)) if (this.isOurs(m[0])) return true
    return false
  }

  /** A token's verdict now: signature and subject come from the cache, expiry and revocation are checked live. */
  checkToken(token: string, now: number): TokenVerdict {
    const verdict = this.verdict(token)
    if (!verdict.ok) return {ok: false, refusal: verdict.reason}
    if (verdict.exp <= now) return {ok: false, refusal: 'expired'}
    if (verdict.nbf !== null && verdict.nbf > now + CLOCK_SKEW_SECONDS) return {ok: false, refusal: 'not-yet-valid'}
    const link = this.links.get(verdict.jti) ?? (this.tryReload() ? this.links.get(verdict.jti) : undefined)
    if (!link) return {ok: false, refusal: 'unknown-link'}
    if (link.revoked) return {ok: false, refusal: 'revoked'}
    if (link.expires_at_epoch <= now) return {ok: false, refusal: 'expired'}
    return {exp: Math.min(verdict.exp, link.expires_at_epoch), jti: verdict.jti, ok: true}
  }

  /** Basic credentials: the password's SHA-256 is compared in constant time with every live basic link. */
  checkBasic(authorization: string | null, now: number): ({ok: true} & Grant) | {ok: false; refusal: RefusalKind} {
    // Canonical base64 only (as browsers and curl send it): Buffer.from would also take unpadded or stray bytes.
    const m = authorization === null ? null : /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization)
    if (!m) return {ok: false, refusal: 'basic'}
    const bytes = Buffer.from(m[1]!, 'base64')
    if (bytes.toString('base64') !== m[1]) return {ok: false, refusal: 'basic'}
    const decoded = bytes.toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon === -1) return {ok: false, refusal: 'basic'}
    // The user is `preview` for share links; a link may name its own (`preview serve --basic-auth USER:PASS`).
    const user = decoded.slice(0, colon)
    const userOf = (link: LinkRecord) => link.user ?? BASIC_USER
    const hash = createHash('sha256')
      .update(decoded.slice(colon + 1))
      .digest()
    // No early exit: every candidate is compared, so timing does not say which link (or whether any) matched.
    const find = () => {
      let found: LinkRecord | null = null
      for (const candidate of this.basic) {
        if (timingSafeEqual(candidate.hash, hash) && userOf(candidate.link) === user && found === null) found = candidate.link
      }

      return found
    }

    let match = find()
    // A reload (new links in state.json) only for a user some link could have: a wrong one cannot match anyway.
    if (!match && (user === BASIC_USER || this.basic.some((c) => userOf(c.link) === user)) && this.tryReload()) match = find()
    if (!match) return {ok: false, refusal: 'basic'}
    if (match.revoked) return {ok: false, refusal: 'revoked'}
    if (match.expires_at_epoch <= now) return {ok: false, refusal: 'expired'}
    return {exp: match.expires_at_epoch, jti: match.jti, ok: true}
  }

  /** A grant still holds: its link is known, not revoked and not expired. */
  stillValid(grant: Grant, now: number): boolean {
    if (grant.exp <= now) return false
    const link = this.links.get(grant.jti)
    return link !== undefined && !link.revoked && link.expires_at_epoch > now
  }
}

export type AuthResult =
  | {ok: true; grant: Grant | null; consumedToken: string | null; target: string; stripAuthorization: boolean}
  | {ok: false; refusal: RefusalKind; clearCookie: boolean}

/**
 * Removes every `token=` parameter that carries our signature (any preview's), keeping every other byte of the
 * target; returns the first one found and the rest. An app's own `?token=` (Vite's HMR socket) is not ours and stays.
 */
export function takeOurTokens(target: string, authority: Authority): OurTokens | null {
  const q = target.indexOf('?')
  if (q === -1 || (!/token=/i.test(target.slice(q)) && !target.includes('%', q))) return null
  const params = target.slice(q + 1).split('&')
  const tokens: string[] = []
  let foreign: string | null = null
  let dropped = false
  let first = true
  const kept: string[] = []
  for (const p of params) {
    const eq = p.indexOf('=')
    if (eq !== -1 && decodeOrSelf(p.slice(0, eq)) === 'token') {
      const value = decodeOrSelf(p.slice(eq + 1))
      const wasFirst = first
      first = false
      if (authority.isOurs(value)) {
        if (wasFirst) tokens.push(value)
        else dropped = true
        continue
      }

      if (wasFirst) foreign = value
      if (authority.containsOurs(value)) {
        dropped = true // a re-spelled token of ours: dropped, never consumed
        continue
      }
    }

    kept.push(p)
  }

  if (tokens.length === 0 && foreign === null && !dropped) return null
  return {foreign, rest: kept.length > 0 ? `${target.slice(0, q)}?${kept.join('&')}` : target.slice(0, q), tokens}
}

/**
 * The `token=` parameters of a target: ours are taken out (every one); only the first `token=` parameter can let
 * a request in (as URLSearchParams.get reads it), and `foreign` is that first one when it is not ours.
 */
export interface OurTokens {
  tokens: string[]
  foreign: string | null
  rest: string
}

function decodeOrSelf(s: string): string {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * Splits Cookie header values: every `preview_*` cookie is taken out (any preview's: browsers share cookies
 * across the ports of one host); the values of this preview's own cookie are returned.
 */
export function takePreviewCookies(values: string[], ownName: string): {own: string[]; rest: string[]} {
  const own: string[] = []
  const rest: string[] = []
  for (const header of values) {
    if (!header.includes(COOKIE_PREFIX)) {
      rest.push(header)
      continue
    }

    const kept: string[] = []
    for (const part of header.split(';')) {
      const trimmed = part.trim()
      if (trimmed === '') continue
      const eq = trimmed.indexOf('=')
      const name = eq === -1 ? trimmed : trimmed.slice(0, eq).trim()
      if (name.startsWith(COOKIE_PREFIX)) {
        if (name === ownName && eq !== -1) own.push(trimmed.slice(eq + 1).trim())
      } else {
        kept.push(trimmed)
      }
    }

    if (kept.length > 0) rest.push(kept.join('; '))
  }

  return {own, rest}
}

/**
 * Decides a request: a session cookie, a Bearer token or a `?token=` (token mode), the link's password (basic),
 * or nothing (none). `cookies` are this preview's own cookie values.
 */
export function authenticate(
  authority: Authority,
  target: string,
  authorization: string | null,
  cookies: string[],
  ourTokens: OurTokens | null,
  now: number,
): AuthResult {
  if (authority.mode === 'none')
    return {consumedToken: null, grant: null, ok: true, stripAuthorization: false, target: ourTokens?.rest ?? target}
  if (authority.mode === 'basic') {
    const v = authority.checkBasic(authorization, now)
    if (!v.ok) return {clearCookie: false, ok: false, refusal: v.refusal}
    return {consumedToken: null, grant: {exp: v.exp, jti: v.jti}, ok: true, stripAuthorization: true, target: ourTokens?.rest ?? target}
  }

  let refusal: RefusalKind | null = null
  let grant: Grant | null = null
  let clearCookie = false
  for (const value of cookies) {
    const v = authority.checkToken(value, now)
    if (v.ok) {
      grant = {exp: v.exp, jti: v.jti}
      break
    }

    refusal ??= v.refusal
    clearCookie = true
  }

  if (grant !== null) clearCookie = false
  const bearer = authorization !== null && /^bearer /i.test(authorization) ? authorization.slice(7).trim() : null
  // A token of ours never reaches the app (as issued, or re-spelled), whether or not it let the request in.
  // Checked once: the cached verdict first, the scan for an embedded one only when that says no.
  const stripAuthorization =
    authorization !== null && ((bearer !== null && authority.isOurs(bearer)) || authority.containsOurs(authorization))
  if (bearer !== null) {
    if (grant === null) {
      const v = authority.checkToken(bearer, now)
      if (v.ok) grant = {exp: v.exp, jti: v.jti}
      else refusal ??= v.refusal
    }
  }

  let consumedToken: string | null = null
  if (ourTokens !== null) {
    for (const token of ourTokens.tokens) {
      const v = authority.checkToken(token, now)
      if (v.ok) {
        consumedToken = token
        grant ??= {exp: v.exp, jti: v.jti}
        break
      }

      if (grant === null) refusal = v.refusal
    }

    // A bad link's own reason beats "missing"; an app's own ?token= (not a JWT) does not hide an earlier reason.
    if (grant === null && ourTokens.tokens.length === 0 && ourTokens.foreign !== null) {
      const v = authority.checkToken(ourTokens.foreign, now)
      if (!v.ok && (v.refusal !== 'malformed' || refusal === null)) refusal = v.refusal
    }

    target = ourTokens.rest
  }

  if (grant !== null) return {consumedToken, grant, ok: true, stripAuthorization, target}
  return {clearCookie, ok: false, refusal: refusal ?? 'missing'}
}
