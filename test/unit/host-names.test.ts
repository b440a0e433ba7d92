import {createHmac} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {hostName, parseHost, previewLabel, refSlug, signName, signature} from '../../src/core/host/names.js'

const single = {domain: 'localhost', labels: [], secret: null}
const labelled = {domain: 'preview.example.com', labels: ['app', 'docs'], secret: null}

describe('host names', () => {
  it('single repository: <ref>.<domain>, the bare domain is the host itself', () => {
    expect(parseHost('main.localhost:8000', single)).toEqual({kind: 'preview', label: null, name: 'main', ref: 'main'})
    expect(parseHost('localhost:8000', single)).toEqual({kind: 'host'})
    expect(parseHost('main.example.org', single).kind).toBe('not-found')
    expect(parseHost(null, single).kind).toBe('not-found')
  })

  it('labels: <label> is the default branch, <label>--<ref> a ref', () => {
    expect(parseHost('app.preview.example.com', labelled)).toEqual({kind: 'preview', label: 'app', name: 'app', ref: null})
    expect(parseHost('APP--feature-x.preview.example.com', labelled)).toEqual({
      kind: 'preview',
      label: 'app',
      name: 'app--feature-x',
      ref: 'feature-x',
    })
    expect(parseHost('web--main.preview.example.com', labelled)).toMatchObject({kind: 'not-found'})
  })

  it('refuses what is not one DNS label, clearly', () => {
    const r = parseHost('feature.x.localhost', single)
    expect(r.kind).toBe('not-found')
    expect(parseHost('-bad.localhost', single).kind).toBe('not-found')
    expect(parseHost(`${'a'.repeat(64)}.localhost`, single).kind).toBe('not-found')
  })

  it('signature is the first 20 hex of HMAC-SHA256(secret, name)', () => {
    const want = createHmac('sha256', 's3cret').update('app--main').digest('hex').slice(0, 20)
    expect(signature('s3cret', 'app--main')).toBe(want)
    expect(signName('s3cret', 'app--main')).toBe(`app--main--${want}`)
  })

  it('with a secret only correctly signed names pass', () => {
    const rules = {...labelled, secret: 'k'}
    const signed = signName('k', 'app--feature-x')
    expect(parseHost(`${signed}.preview.example.com`, rules)).toEqual({
      kind: 'preview',
      label: 'app',
      name: 'app--feature-x',
      ref: 'feature-x',
    })
    expect(parseHost('app--feature-x.preview.example.com', rules).kind).toBe('forbidden')
    expect(parseHost(`${signName('other', 'app--feature-x')}.preview.example.com`, rules).kind).toBe('forbidden')
    // a valid signature of another name
    expect(parseHost(`app--main--${signature('k', 'app--feature-x')}.preview.example.com`, rules).kind).toBe('forbidden')
    expect(parseHost('preview.example.com', rules)).toEqual({kind: 'host'})
  })

  it('branch names map to DNS labels', () => {
    expect(refSlug('feature/Login_page')).toBe('feature-login-page')
    expect(previewLabel('app', 'feature/x', null)).toBe('app--feature-x')
    expect(previewLabel(null, 'main', 'k')).toBe(signName('k', 'main'))
    expect(hostName('Main.Localhost.')).toBe('main.localhost')
  })

  it('refuses to sign what cannot be a host name', () => {
    expect(() => signName('k', 'feature/x')).toThrow(/not a valid host name label/)
    expect(() => signName('k', 'a'.repeat(50))).toThrow(/too long/)
  })
})
