import {describe, expect, it} from 'vitest'
import {InvalidInput} from '../../src/core/errors.js'
import {formatDuration, parseDuration} from '../../src/core/preview/duration.js'

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['30m', 1800],
    ['4h', 14_400],
    ['1d', 86_400],
    ['1h30m', 5400],
    [' 2H ', 7200],
  ])('%s is %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds)
  })

  it.each(['abc', '0s', '', '10', '5 m', '-1h', '1w', '1.5h'])('rejects %j as bad input (exit 2)', (text) => {
    let caught: unknown
    try {
      parseDuration(text, '--expire')
    } catch (error) {
      caught = error
    }

    expect(caught).toBeInstanceOf(InvalidInput)
    expect((caught as InvalidInput).exitCode).toBe(2)
    expect((caught as InvalidInput).hint).toMatch(/30s, 30m, 4h|positive/)
  })

  it('formats back to the largest whole unit', () => {
    expect([30, 1800, 14_400, 86_400, 90].map((s) => formatDuration(s))).toEqual(['30s', '30m', '4h', '1d', '90s'])
  })
})
