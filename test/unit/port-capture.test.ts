// Port capture over the corpus of real dev-server output (test/fixtures/port-capture), plus the parser's edge cases.
import {describe, expect, it} from 'vitest'
import {parsePortLine, PortSniffer, stripAnsi} from '../../src/core/discovery/port-capture.js'
import {loadFixtures} from '../fixtures/port-capture/fixtures.js'

const fixtures = loadFixtures()

function sniff(lines: string[]): {sniffer: PortSniffer; pushed: number[]} {
  const sniffer = new PortSniffer()
  const pushed: number[] = []
  for (const line of lines) {
    const c = sniffer.push(line)
    if (c) pushed.push(c.port)
  }

  return {pushed, sniffer}
}

describe('corpus', () => {
  it('holds at least 25 tools and the trap kinds the issue asks for', () => {
    const tools = fixtures.filter((f) => !f.name.startsWith('trap-') && !f.name.startsWith('ipv6-'))
    expect(tools.length).toBeGreaterThanOrEqual(25)
    for (const kind of ['trap-node-inspect', 'trap-hmr', 'trap-lan-only', 'trap-next-in-use', 'ipv6-django']) {
      expect(fixtures.map((f) => f.name)).toContain(kind)
    }
  })

  it('keeps real ESC bytes where the tool prints colours', () => {
    const coloured = fixtures.filter((f) => f.lines.some((l) => l.includes('\u001B[')))
    expect(coloured.length).toBeGreaterThanOrEqual(20)
  })

  for (const f of fixtures) {
    it(`${f.name}: picks ${f.expect ?? 'nothing'}`, () => {
      const {pushed, sniffer} = sniff(f.lines)
      expect(sniffer.best()?.port ?? null).toBe(f.expect)
      // A trap port is never offered, not even for a moment.
      for (const trap of f.traps) expect(pushed).not.toContain(trap)
      if (f.fallback === 'lan') expect(pushed).toEqual([])
      else if (f.expect !== null) expect(pushed.at(-1)).toBe(f.expect)
    })
  }
})

describe('stripAnsi', () => {
  it('removes CSI, OSC and keeps the text after the last carriage return', () => {
    expect(stripAnsi('\u001B[32m➜\u001B[39m  \u001B[1mLocal\u001B[22m')).toBe('➜  Local')
    expect(stripAnsi('\u001B]8;;http://x\u0007link\u001B]8;;\u0007')).toBe('link')
    expect(stripAnsi('\u001B]0;title\u001B\\after')).toBe('after')
    expect(stripAnsi('⠋ wait\r⠙ wait\r\u001B[2Kdone')).toBe('done')
    expect(stripAnsi('line\r\n')).toBe('line')
    expect(stripAnsi('\u009B31mred\u009B0m')).toBe('red')
    expect(stripAnsi('\u001B7saved\u001B8')).toBe('saved')
  })
})

describe('parsePortLine', () => {
  it('reads the common shapes', () => {
    expect(parsePortLine('  ➜  Local:   http://localhost:5173/')?.port).toBe(5173)
    expect(parsePortLine('Listening on :8080')).toMatchObject({host: null, port: 8080})
    expect(parsePortLine('listening on 0.0.0.0:3000')).toMatchObject({host: '0.0.0.0', port: 3000})
    expect(parsePortLine('Server listening on http://[::1]:3000')).toMatchObject({host: '::1', port: 3000, url: 'http://[::1]:3000'})
    expect(parsePortLine('Tomcat started on port 8080 (http)')).toMatchObject({host: null, port: 8080, url: null})
    expect(parsePortLine('   INFO  Server running on [http://127.0.0.1:8000].')).toMatchObject({url: 'http://127.0.0.1:8000'})
    expect(parsePortLine('listening on http://[::ffff:127.0.0.1]:3000')?.port).toBe(3000)
    expect(parsePortLine('* Listening on tcp://0.0.0.0:9292')).toMatchObject({host: '0.0.0.0', url: 'tcp://0.0.0.0:9292'})
  })

  it('returns null for debugger, HMR, LAN and "in use" lines', () => {
    for (const line of [
      'Debugger listening on ws://127.0.0.1:9229/0f2d3c6e',
      'For help, see: https://nodejs.org/en/docs/inspector',
      'HMR server listening on ws://localhost:24678',
      'LiveReload address: http://127.0.0.1:35729',
      '  ➜  Network: http://192.168.1.23:5173/',
      '  On Your Network:  http://192.168.1.23:3000',
      'Port 3000 is in use, trying 3001 instead.',
      'Error: listen EADDRINUSE: address already in use :::3000',
      'Proxy created: /api -> http://localhost:5000',
      'Date: 2021-03-01T10:00:00.000Z - Hash: 3f5c1e9a7b2d - Time: 8123ms',
      '  port: 3000',
    ]) {
      expect(parsePortLine(line), line).toBeNull()
    }
  })

  it('rejects ports outside 1-65535', () => {
    expect(parsePortLine('Listening on http://localhost:70000')).toBeNull()
    expect(parsePortLine('Listening on http://localhost:0')).toBeNull()
  })
})

describe('PortSniffer', () => {
  it('records ports said to be taken and never chooses them', () => {
    const s = new PortSniffer()
    expect(s.push('Port 3000 is in use, trying 3001 instead.')).toBeNull()
    expect(s.rejected.has(3000)).toBe(true)
    expect(s.push('Listening on http://localhost:3000')).toBeNull()
    expect(s.push('Listening on http://localhost:3001')?.port).toBe(3001)
  })

  it('drops a chosen port the output later says is taken', () => {
    const s = new PortSniffer()
    s.push('  Local:   http://localhost:3000/')
    s.push('listening on http://localhost:4000')
    s.push('Error: listen EADDRINUSE: address already in use 127.0.0.1:3000')
    expect(s.best()?.port).toBe(4000)
  })

  it('returns a better candidate and ignores a worse one', () => {
    const s = new PortSniffer()
    expect(s.push('[remix-serve] http://localhost:3000 (http://192.168.1.23:3000)')?.port).toBe(3000)
    expect(s.push('  ➜  Local:   http://localhost:5173/')?.port).toBe(5173)
    expect(s.push('open http://localhost:9999 in your browser')).toBeNull()
    expect(s.best()?.port).toBe(5173)
  })

  it('offers a LAN address only through best(), and only while nothing better is known', () => {
    const s = new PortSniffer()
    expect(s.push('  ➜  Network: http://192.168.1.23:5173/')).toBeNull()
    expect(s.best()?.port).toBe(5173)
    expect(s.push('  ➜  Local:   http://localhost:5174/')?.port).toBe(5174)
    expect(s.best()?.port).toBe(5174)
  })

  it('stays cheap on long and numerous lines', () => {
    const s = new PortSniffer()
    const long = `${'x'.repeat(1_000_000)} listening on http://localhost:3000`
    const noise = 'webpack compiled successfully in 512 ms (123 modules) [built] [code generated]'
    const t0 = performance.now()
    s.push(long)
    for (let i = 0; i < 100_000; i++) s.push(noise)
    expect(performance.now() - t0).toBeLessThan(1500)
    // Past the examined prefix: a megabyte line is not scanned to its end.
    expect(s.best()).toBeNull()
  })
})
