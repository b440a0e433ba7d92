// The error envelope: every error as one small document an agent can switch on.
import {describe, expect, it} from 'vitest'
import {InvalidInput, PortNotDetected} from '../../src/core/errors.js'
import {errorBody, errorDocument, MAX_ERROR_BYTES, renderError, wantsJson} from '../../src/cli/render-error.js'
import {closest} from '../../src/cli/suggest.js'

describe('error envelope', () => {
  it('keeps a PreviewError as it is, with its exit code', () => {
    const body = errorBody(new InvalidInput('Bad --expire.', 'Use 30m.'))
    expect(body).toEqual({code: 'INVALID_INPUT', details: [], exit_code: 2, hint: 'Use 30m.', kind: 'bad-input', message: 'Bad --expire.'})
  })

  it('cuts a huge error (thousands of log lines) to under 4 KB, keeping the newest lines and the message', () => {
    const lines = Array.from({length: 5000}, (_, i) => `log line ${i} ${'x'.repeat(40)}`)
    const doc = errorDocument(errorBody(new PortNotDetected('The dev server did not become ready.', lines)))
    expect(Buffer.byteLength(doc)).toBeLessThanOrEqual(MAX_ERROR_BYTES)
    const parsed = JSON.parse(doc)
    expect(parsed.error.message).toBe('The dev server did not become ready.')
    expect(parsed.error.details.at(-1)).toBe(lines.at(-1))
    expect(parsed.error.details_truncated).toBe(true)
  })

  it('a plain Error is INTERNAL, runtime, exit 1; text mode goes to stderr only', () => {
    const out = renderError(new Error('boom'), false)
    expect(out).toMatchObject({exitCode: 1, stdout: null})
    expect(out.stderr).toMatch(/^Error: boom/)
  })

  it('reads --json as oclif does (not after --)', () => {
    expect(wantsJson(['status', '--json'])).toBe(true)
    expect(wantsJson(['start', '--command', 'x', '--', '--json'])).toBe(false)
  })

  it('suggests the closest name, and nothing for a word far from all of them', () => {
    expect(closest('stat', ['start', 'status', 'stop'])).toBe('status')
    expect(closest('lsit', ['list', 'logs'])).toBe('list')
    expect(closest('show-secret', ['show-secrets', 'json'])).toBe('show-secrets')
    expect(closest('kubernetes', ['list', 'logs', 'stop'])).toBeNull()
  })
})
