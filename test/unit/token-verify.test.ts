// The gateway's synchronous token check (credentials.ts checkTokenSync) against jose's jwtVerify, the reference:
// on a corpus of valid, forged and malformed tokens they agree, except where jose accepts a spelling of a token that
// is not the one issued (a padded or re-spelled signature): there the gateway refuses, by design.
import {randomBytes} from 'node:crypto'
import {jwtVerify, SignJWT, UnsecuredJWT} from 'jose'
import {describe, expect, it} from 'vitest'
import {checkTokenSync} from '../../src/core/records/credentials.js'

const ID = 'p-0123abcd'
const key = new Uint8Array(randomBytes(32))
const otherKey = new Uint8Array(randomBytes(32))
const now = Math.floor(Date.now() / 1000)
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

async function jose(token: string): Promise<boolean> {
  try {
    const {payload} = await jwtVerify(token, key, {algorithms: ['HS256'], subject: ID})
    return typeof payload.jti === 'string' && typeof payload.exp === 'number'
  } catch {
    return false
  }
}

function ours(token: string): boolean {
  const v = checkTokenSync(token, key, ID)
  return v.ok && v.exp > now
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

async function corpus(): Promise<{valid: string[]; hostile: string[]; respelled: string[]}> {
  const sign = (claims: Record<string, unknown>, k = key, header: Record<string, unknown> = {alg: 'HS256', typ: 'JWT'}) =>
    new SignJWT(claims).setProtectedHeader(header as {alg: string}).sign(k)
  const valid: string[] = []
  for (let i = 0; i < 40; i++) valid.push(await sign({exp: now + 60 + i, iat: now, jti: `j${i}`, sub: ID}))
  valid.push(await sign({exp: now + 60, jti: 'x', sub: ID}, key, {alg: 'HS256'}))
  const [h, p, s] = valid[0]!.split('.') as [string, string, string]
  const hostile = [
    await sign({exp: now + 60, jti: 'j', sub: ID}, otherKey),
    await sign({exp: now + 60, jti: 'j', sub: 'p-ffffffff'}),
    await sign({exp: now - 10, jti: 'j', sub: ID}),
    await sign({exp: now + 60, sub: ID}),
    await sign({jti: 'j', sub: ID}),
    await sign({exp: now + 60, jti: 'j', sub: ID}, key, {alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1}).catch(
      () => `${b64({alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1})}.${b64({exp: now + 60, jti: 'j', sub: ID})}.${'A'.repeat(43)}`,
    ),
    await new SignJWT({jti: 'j'})
      .setProtectedHeader({alg: 'HS512'})
      .setSubject(ID)
      .setExpirationTime(now + 60)
      .sign(key),
    new UnsecuredJWT({jti: 'j'})
      .setSubject(ID)
      .setExpirationTime(now + 60)
      .encode(),
    `${b64({alg: 'none'})}.${p}.`,
    `${h}.${b64({exp: now + 999_999, jti: 'j', sub: ID})}.${s}`,
    `${h}.${p}`,
    `${h}.${p}.${s}.${s}`,
    `${h}..${s}`,
    `.${p}.${s}`,
    '',
    'not-a-jwt',
    `${h}.${p}.${s.slice(0, -1)}`,
    `${h}.${p}.${s}A`,
    `${h}.${p}.${s.slice(0, 10)}!${s.slice(10)}`,
    `${h}.${p}.${s.slice(0, 10)}*${s.slice(10)}`,
    `${h}.${p}.${s.replaceAll('-', '+').replaceAll('_', '/')}`,
    `${h} .${p}.${s}`,
    `${h}.${p}.${s}\r\nSet-Cookie: x=1`,
    `${h}=.${p}.${s}`,
  ]
  // Random byte flips anywhere in a valid token.
  for (let i = 0; i < 300; i++) {
    const t = valid[i % valid.length]!
    const at = (i * 7919) % t.length
    const c = ALPHABET[(ALPHABET.indexOf(t[at]!) + 1 + (i % 60)) % 64] ?? 'A'
    hostile.push(t.slice(0, at) + c + t.slice(at + 1))
  }

  // Other spellings of a valid signature that decode to the same bytes: jose accepts them, the gateway does not.
  const respelled: string[] = []
  for (const t of valid) {
    const i = ALPHABET.indexOf(t.at(-1)!)
    for (let d = 1; d < 4; d++) respelled.push(t.slice(0, -1) + ALPHABET[(i & ~3) | ((i + d) & 3)])
    respelled.push(`${t}=`)
  }

  // A variant that happens to equal a valid token (a signature with no - or _ has no +/ spelling) is not hostile.
  return {hostile: hostile.filter((t) => !valid.includes(t)), respelled, valid}
}

describe('checkTokenSync against jose jwtVerify', () => {
  it('agrees on every valid and hostile token, and refuses every re-spelling jose lets through', async () => {
    const {hostile, respelled, valid} = await corpus()
    const disagreements: string[] = []
    for (const t of [...valid, ...hostile]) if ((await jose(t)) !== ours(t)) disagreements.push(t)
    expect(disagreements).toEqual([])
    expect(valid.every((t) => ours(t))).toBe(true)
    const flips = hostile.filter((t) => ours(t))
    expect(flips).toEqual([])
    // The documented difference: jose accepts these spellings; the gateway never does.
    const joseAccepts = await Promise.all(respelled.map((t) => jose(t)))
    expect(joseAccepts.filter(Boolean).length).toBeGreaterThan(0)
    expect(respelled.filter((t) => ours(t))).toEqual([])
  })
})
