// Lines from a tunnel tool's output stream (onLines): what the drivers' parsers see, chunk boundaries anywhere.
import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {LineSplitter} from '../../src/core/lines.js'
import {onLines} from '../../src/core/tunnels/util.js'

function feed(chunks: Buffer[]): string[] {
  const stream = new PassThrough()
  const lines: string[] = []
  const stop = onLines(stream, (l) => lines.push(l))
  for (const c of chunks) stream.emit('data', c)
  stop()
  return lines
}

/** Every way of cutting `text` into two chunks. */
function cuts(text: string): Buffer[][] {
  const bytes = Buffer.from(text)
  return Array.from({length: bytes.length - 1}, (_, i) => [bytes.subarray(0, i + 1), bytes.subarray(i + 1)])
}

describe('onLines (tunnel tool output)', () => {
  it('a character whose bytes arrive in two chunks comes out whole, wherever the cut', () => {
    const text = '2026-12-01T10:00:00Z INF ✓ Registered tunnel connection https://a-b.trycloudflare.com\n'
    for (const chunks of cuts(text)) expect(feed(chunks)).toEqual([text.slice(0, -1)])
  })

  it('CRLF cut between its two bytes is one line end, a lone CR ends a line (progress redraws)', () => {
    for (const chunks of cuts('listening at bore.pub:4242\r\nnext\r')) expect(feed(chunks)).toEqual(['listening at bore.pub:4242', 'next'])
    expect(feed([Buffer.from('10%\r20%\r30%\ndone')])).toEqual(['10%', '20%', '30%', 'done'])
  })

  it('colours are stripped; an unfinished last line is given at stop', () => {
    expect(feed([Buffer.from('\u001b[32mready\u001b[0m\npartial')])).toEqual(['ready', 'partial'])
  })
})

describe('LineSplitter (files)', () => {
  it('keeps a lone CR inside a line in file mode, strips CRLF, bounds a runaway line', () => {
    const s = new LineSplitter(4)
    expect(s.push('a\rb\r\nc')).toEqual(['a\rb'])
    expect(s.push('defgh')).toEqual([])
    expect(s.end()).toBe('efgh')
  })
})
