// Link credentials: HS256 JWTs for token mode, random passwords for basic mode.
import {createHash, createHmac, randomBytes, randomUUID, timingSafeEqual} from 'node:crypto'
import {readOrCreateKey} from '../fsutil.js'
import type {SddPaths} from './paths.js'
import type {AuthMode, LinkRecord} from './types.js'

export const BASIC_USER = 'preview'

// jose on first use (listing and stopping previews never mint a token, and should not pay for loading it), by
// subpath: its index loads every algorithm and format, ~45 ms on these machines against ~10 ms for the one module
// each of signing and verifying needs (on the critical path of `start` and `share`).
function loadSign(): Promise<typeof import('jose/jwt/sign')> {
  return import('jose/jwt/sign')
}

function loadVerify(): Promise<typeof import('jose/jwt/verify')> {
  return import('jose/jwt/verify')
}

/** The JWT signing key (32 random bytes, 0600), made on first use. */
export function loadJwtKey(paths: SddPaths): Uint8Array {
  return new Uint8Array(readOrCreateKey(paths.jwtKey, 32))
}

export interface MintedLink {
  record: LinkRecord
  /** The URL to share: `?token=` for token mode, `user:pass@` for basic, the bare URL for none. */
  url: string
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** A link's record (what state.json keeps) and its secret (the token or password: only ever in the link). */
export interface Credential {
  record: LinkRecord
  secret: string | null
}

/**
 * Mints a credential: an HS256 JWT (jose) for token mode, a 192-bit random password for basic mode (only its
 * SHA-256 is recorded), nothing for none. It names no host, so it can be minted before the public URL is known.
 */
export async function mintCredential(opts: {
  previewId: string
  authMode: AuthMode
  expiresAtEpoch: number
  key: Uint8Array
  nowEpoch?: number
}): Promise<Credential> {
  const now = opts.nowEpoch ?? Math.floor(Date.now() / 1000)
  const jti = randomUUID()
  const record: LinkRecord = {
    auth_mode: opts.authMode,
    created_at_epoch: now,
    expires_at_epoch: opts.expiresAtEpoch,
    jti,
    revoked: false,
  }
  if (opts.authMode === 'token') {
    const {SignJWT} = await loadSign()
    const token = await new SignJWT({})
      .setProtectedHeader({alg: 'HS256', typ: 'JWT'})
      .setSubject(opts.previewId)
      .setJti(jti)
      .setIssuedAt(now)
      .setExpirationTime(opts.expiresAtEpoch)
      .sign(opts.key)
    return {record, secret: token}
  }

  if (opts.authMode === 'basic') {
    // 24 random bytes = 192 bits, base64url so it survives in userinfo without escaping
    const password = randomBytes(24).toString('base64url')
    record.password_sha256 = sha256Hex(password)
    return {record, secret: password}
  }

  return {record, secret: null}
}

/** The URL to share: `?token=` for token mode, `preview:pass@` for basic, the bare URL for none. */
export function linkUrl(publicUrl: string, authMode: AuthMode, secret: string | null): string {
  const url = new URL(publicUrl)
  if (authMode === 'token' && secret) url.searchParams.set('token', secret)
  else if (authMode === 'basic' && secret) {
    url.username = BASIC_USER
    url.password = secret
  }

  return url.toString()
}

/** Mints a link on a known public URL (preview share). */
export async function mintLink(opts: {
  previewId: string
  authMode: AuthMode
  expiresAtEpoch: number
  publicUrl: string
  key: Uint8Array
  nowEpoch?: number
}): Promise<MintedLink> {
  const credential = await mintCredential(opts)
  return {record: credential.record, url: linkUrl(opts.publicUrl, opts.authMode, credential.secret)}
}

export interface VerifiedToken {
  jti: string
  sub: string
  exp: number
}

/** Verifies a token as one of this preview's (HS256 only, so `alg:none` and others are refused). */
export async function verifyToken(token: string, key: Uint8Array, previewId: string): Promise<VerifiedToken | null> {
  try {
    const {jwtVerify} = await loadVerify()
    const {payload} = await jwtVerify(token, key, {algorithms: ['HS256'], subject: previewId})
    if (typeof payload.jti !== 'string' || typeof payload.exp !== 'number' || typeof payload.sub !== 'string') return null
    return {exp: payload.exp, jti: payload.jti, sub: payload.sub}
  } catch {
    return null
  }
}

export type TokenCheck =
  | {ok: true; jti: string; exp: number; nbf: number | null}
  | {ok: false; reason: 'malformed' | 'algorithm' | 'signature' | 'other-preview' | 'claims'; ours?: boolean}

function decodeJsonSegment(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}

/**
 * Synchronous HS256 check of a token's signature and subject (expiry is left to the caller, who caches this).
 * The gateway calls it on its hot path, where jose's async jwtVerify would cost an await per request;
 * it accepts exactly what jose mints: header alg HS256 and no `crit`, so `alg:none` and RS/ES tokens are refused.
 */
export function checkTokenSync(token: string, key: Uint8Array, previewId: string): TokenCheck {
  // Exactly the shape jose mints: three base64url segments, no padding, a 43-character HS256 signature (checked after the header). Anything
  // else (a `=` suffix, `+/` for `-_`, stray bytes) is refused before decoding, since Buffer.from(…, 'base64url')
  // silently skips what it does not understand.
  if (token.length > 4096 || !TOKEN_SHAPE.test(token)) return {ok: false, reason: 'malformed'}
  const dot1 = token.indexOf('.')
  const dot2 = token.indexOf('.', dot1 + 1)
  const header = decodeJsonSegment(token.slice(0, dot1))
  if (!header) return {ok: false, reason: 'malformed'}
  if (header.alg !== 'HS256' || header.crit !== undefined) {
    // Refused either way; but an HS384/HS512 token made with our key is still ours (it must not reach an app).
    const hash = header.alg === 'HS384' ? 'sha384' : header.alg === 'HS512' ? 'sha512' : null
    const ours = hash !== null && createHmac(hash, key).update(token.slice(0, dot2)).digest('base64url') === token.slice(dot2 + 1)
    return ours ? {ok: false, ours, reason: 'algorithm'} : {ok: false, reason: 'algorithm'}
  }
  if (token.length - dot2 - 1 !== 43) return {ok: false, reason: 'signature'}
  // Compared as text, so the signature is the one issued to the letter (its last character carries 2 unused bits
  // that a decoder ignores: jose accepts four spellings of each signature; we accept one).
  const expected = Buffer.from(createHmac('sha256', key).update(token.slice(0, dot2)).digest('base64url'), 'latin1')
  const signature = Buffer.from(token.slice(dot2 + 1), 'latin1')
  if (!timingSafeEqual(signature, expected)) return {ok: false, reason: 'signature'}
  const payload = decodeJsonSegment(token.slice(dot1 + 1, dot2))
  if (!payload || typeof payload.jti !== 'string' || typeof payload.exp !== 'number') return {ok: false, reason: 'claims'}
  if (payload.sub !== previewId) return {ok: false, reason: 'other-preview'}
  const nbf = typeof payload.nbf === 'number' ? payload.nbf : null
  return {exp: payload.exp, jti: payload.jti, nbf, ok: true}
}

/** Three base64url segments (the signature's length is checked once the header names HS256: 43 characters). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/

/** True when a token verdict means the signature was made with our key (whatever preview it names). */
export function signedByUs(check: TokenCheck): boolean {
  return check.ok || check.reason === 'other-preview' || check.reason === 'claims' || check.ours === true
}
