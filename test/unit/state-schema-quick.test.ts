// The quick predicates that spare `list` valibot on well-formed rows (state-schema.ts): each accepts only what its
// valibot schema accepts, so a bad field can never slip past the check; for a link, what it keeps is what valibot
// would output, key order included (list --json prints it).
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {linkAsParsed, QUICK, schemaAnswer, SHAPES} from '../../src/core/records/state-schema.js'

/** Edge values for every shape: numbers at and past each bound, every option of each picklist, near misses. */
const EDGES: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  65_535,
  65_536,
  2 ** 53,
  Number.MAX_VALUE,
  -Number.MIN_VALUE,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  '',
  ' ',
  '0',
  '1',
  'x',
  'token',
  'basic',
  'none',
  'Token',
  'starting',
  'running',
  'idle',
  'stopping',
  'crashed',
  'ended',
  'worktree',
  'cwd',
  'attached',
  [],
  [1],
  {},
  {a: 1},
  new Date(0),
  Object.create(null),
  1n,
  Symbol('s'),
]

const goodLink = () => ({auth_mode: 'token', created_at_epoch: 1_700_000_000, expires_at_epoch: 2_000_000_000, jti: 'j', revoked: false})

describe('state-schema quick predicates', () => {
  for (const shape of SHAPES.filter((s) => s !== 'link')) {
    it(`${shape}: the predicate and valibot answer the same for edge values and arbitrary ones`, () => {
      for (const value of EDGES) expect([value, QUICK[shape](value)]).toEqual([value, schemaAnswer(shape, value).success])
      fc.assert(fc.property(fc.anything(), (value) => QUICK[shape](value) === schemaAnswer(shape, value).success))
    })
  }

  it('link: a link the predicate accepts is one valibot accepts, and it is kept as valibot outputs it', () => {
    const variants: unknown[] = [goodLink(), {...goodLink(), extra: [1], zz: 'z'}, {password_sha256: 'h', ...goodLink()}]
    for (const key of Object.keys(goodLink())) {
      const {[key as keyof ReturnType<typeof goodLink>]: _gone, ...without} = goodLink()
      variants.push(without)
      for (const value of EDGES) variants.push({...goodLink(), [key]: value})
    }

    for (const value of EDGES) variants.push({...goodLink(), password_sha256: value}, value)
    // Keys valibot drops from a loose object's output, as JSON.parse makes them (own properties).
    variants.push(
      JSON.parse(
        '{"__proto__":{"x":1},"constructor":"c","prototype":"p","jti":"j","auth_mode":"basic","expires_at_epoch":1,"revoked":true}',
      ),
    )
    let accepted = 0
    for (const link of variants) {
      if (!QUICK.link(link)) continue
      accepted++
      const answer = schemaAnswer('link', link)
      expect(answer.success).toBe(true)
      const kept = linkAsParsed(link as Record<string, unknown>)
      expect(Object.keys(kept)).toEqual(Object.keys(answer.output as object))
      expect(kept).toEqual(answer.output)
    }

    expect(accepted).toBeGreaterThan(10) // the well-formed variants took the quick path
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('jti', 'auth_mode', 'created_at_epoch', 'expires_at_epoch', 'revoked', 'x'), fc.anything()),
        (link) => {
          if (!QUICK.link(link)) return true
          const answer = schemaAnswer('link', link)
          return (
            answer.success && JSON.stringify(Object.entries(linkAsParsed(link))) === JSON.stringify(Object.entries(answer.output as object))
          )
        },
      ),
    )
  })
})
