// Link credentials: HS256 JWTs for token mode, random passwords for basic mode.
import {createHash, randomBytes, randomUUID, timingSafeEqual} from 'node:crypto'
import {SignJWT, jwtVerify} from 'jose'
import {readOrCreateKey} from '../fsutil.js'
import type {SddPaths} from './paths.js'
import type {AuthMode, LinkRecord} from './types.js'

export const BASIC_USER = 'preview'

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

/** Constant-time comparison of two strings (by their SHA-256, so lengths never leak). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/** Mints a link for a preview. For basic mode only the password's SHA-256 is recorded. */
export async function mintLink(opts: {
  previewId: string
  authMode: AuthMode
  expiresAtEpoch: number
  publicUrl: string
  key: Uint8Array
  nowEpoch?: number
}): Promise<MintedLink> {
  const now = opts.nowEpoch ?? Math.floor(Date.now() / 1000)
  const jti = randomUUID()
  const record: LinkRecord = {
    auth_mode: opts.authMode,
    created_at_epoch: now,
    expires_at_epoch: opts.expiresAtEpoch,
    jti,
    revoked: false,
  }
  const url = new URL(opts.publicUrl)
  if (opts.authMode === 'token') {
    const token = await new SignJWT({})
      .setProtectedHeader({alg: 'HS256', typ: 'JWT'})
      .setSubject(opts.previewId)
      .setJti(jti)
      .setIssuedAt(now)
      .setExpirationTime(opts.expiresAtEpoch)
      .sign(opts.key)
    url.searchParams.set('token', token)
  } else if (opts.authMode === 'basic') {
    // 24 random bytes = 192 bits, base64url so it survives in userinfo without escaping
    const password = randomBytes(24).toString('base64url')
    record.password_sha256 = sha256Hex(password)
    url.username = BASIC_USER
    url.password = password
  }

  return {record, url: url.toString()}
}

export interface VerifiedToken {
  jti: string
  sub: string
  exp: number
}

/** Verifies a token as one of this preview's (HS256 only, so `alg:none` and others are refused). */
export async function verifyToken(token: string, key: Uint8Array, previewId: string): Promise<VerifiedToken | null> {
  try {
    const {payload} = await jwtVerify(token, key, {algorithms: ['HS256'], subject: previewId})
    if (typeof payload.jti !== 'string' || typeof payload.exp !== 'number' || typeof payload.sub !== 'string') return null
    return {exp: payload.exp, jti: payload.jti, sub: payload.sub}
  } catch {
    return null
  }
}
