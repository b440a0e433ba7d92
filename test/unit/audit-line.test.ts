// The one audit-line parser: what every reader (verify, list --all, events, metrics, the append) gets for a line.
import {describe, expect, it} from 'vitest'
import {canonicalJson, parseAuditLine} from '../../src/core/records/audit.js'

describe('parseAuditLine', () => {
  it('returns the object of a canonical entry line', () => {
    const line = canonicalJson({event: 'start', mac: 'ab', preview_id: 'p-1', seq: 1})
    expect(parseAuditLine(line)).toEqual({entry: {event: 'start', mac: 'ab', preview_id: 'p-1', seq: 1}})
  })

  it('names a line cut short as not JSON', () => {
    expect(parseAuditLine('{"event":"stop","seq":3')).toEqual({entry: null, error: 'is not JSON'})
  })

  it('names JSON that is no object (null, an array, a number, a string) as such', () => {
    for (const line of ['null', '[1,2]', '42', '"stop"']) {
      expect(parseAuditLine(line)).toEqual({entry: null, error: 'is not a JSON object'})
    }
  })
})
