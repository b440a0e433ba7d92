import {describe, expect, it} from 'vitest'
import {DevSocketPortRewriter, isScriptRequest} from '../../src/core/gateway/socket-url-rewrite.js'

const QUERY = (port: string) =>
  `var __resourceQuery = "?protocol=ws%3A&hostname=0.0.0.0&port=${port}&pathname=%2Fws&logging=info&hot=true";`

describe('DevSocketPortRewriter', () => {
  it.each([80, 300, 8080, 34751])('rewrites port=%i to port=0 at the same length, leaving a valid query', (port) => {
    const before = QUERY(String(port))
    const out = new DevSocketPortRewriter(port).rewrite(Buffer.from(before)).toString()
    expect(out.length).toBe(before.length)
    const query = new URLSearchParams(/"\?([^"]+)"/.exec(out)![1])
    expect(query.get('port')).toBe('0')
    expect(query.get('hostname')).toBe('0.0.0.0')
    expect(query.get('pathname')).toBe('/ws')
    expect(query.get('hot')).toBe('true')
  })

  it('leaves other ports and other text alone', () => {
    const text = `${QUERY('9000')} port=8080& hostname=0.0.0.0&port=80801&`
    expect(new DevSocketPortRewriter(8080).rewrite(Buffer.from(text)).toString()).toBe(text)
  })

  it('rewrites a match split across chunks at every split before the digits', () => {
    const text = QUERY('8080')
    const start = text.indexOf('hostname=')
    for (let split = start + 1; split <= start + 'hostname=0.0.0.0&port='.length; split++) {
      const r = new DevSocketPortRewriter(8080)
      const out = Buffer.concat([r.rewrite(Buffer.from(text.slice(0, split))), r.rewrite(Buffer.from(text.slice(split)))]).toString()
      expect(out, `split at ${split - start}`).toContain('port=0&_x&pathname')
    }
  })

  it('finds every occurrence in a large chunk', () => {
    const text = QUERY('8080').repeat(1000)
    const out = new DevSocketPortRewriter(8080).rewrite(Buffer.from(text)).toString()
    expect(out.match(/port=0&_x&/g)).toHaveLength(1000)
  })

  it('isScriptRequest picks scripts by path, ignoring the query', () => {
    expect(['/main.js', '/static/js/bundle.js?v=1', '/x.mjs', '/y.cjs'].map((t) => isScriptRequest(t))).toEqual([true, true, true, true])
    expect(['/', '/index.html', '/js', '/api?file=a.js'].map((t) => isScriptRequest(t))).toEqual([false, false, false, false])
  })
})
