// The row checks under arbitrary content: nothing a parseable state.json holds makes a reader throw, what comes
// out always has the documented shape, and fields that were right are left alone.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import type {LinkRecord, PreviewRow} from '../../src/core/records/types.js'
import {LastGoodLinks} from '../../src/core/records/row-links.js'
import {checkRow, topField} from '../../src/core/records/state-schema.js'

const link = (jti: string, revoked = false): LinkRecord => ({
  auth_mode: 'token',
  created_at_epoch: 1_700_000_000,
  expires_at_epoch: 2_000_000_000,
  jti,
  revoked,
})

const validRow = (): PreviewRow => ({
  auth_mode: 'token',
  command: 'npm run dev',
  commit: 'abc',
  created_at_epoch: 1_700_000_000,
  cwd: '/w/ws-1',
  expires_at_epoch: 2_000_000_000,
  gateway_port: 4000,
  links: [link('a'), link('b')],
  log_file: '/w/.sdd/runtime/preview/logs/p-12345678.log',
  port: 5173,
  preview_id: 'p-12345678',
  process_pid: 100,
  process_start_time: 5,
  public_url: 'http://127.0.0.1:4000',
  ref: null,
  restarts: 0,
  sandbox_backend: 'worktree',
  sandbox_session_id: 'ws-1',
  share_url: 'http://127.0.0.1:4000/?token=x',
  status: 'running',
  supervisor_pid: 99,
  supervisor_start_time: 4,
  tunnel_name: null,
  tunnel_provider: 'local',
})

describe('checkRow', () => {
  it('a valid row comes back unchanged, extra fields included, with no problems', () => {
    const row = {...validRow(), restart_requested_at_ms: 5, something_new: {a: [1]}}
    expect(checkRow(row, 0)).toEqual({problems: [], row})
  })

  it('any JSON as a row: never throws, and what comes out has the documented shape', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        const out = checkRow(raw, 0)
        if (out.row) expect(checkRow(out.row, 0).problems).toEqual([])
        else expect(out.problems).toHaveLength(1)
      }),
      {numRuns: 2000, seed: 11},
    )
  })

  it('any fields replaced by any JSON: only those are reported and defaulted, the others kept as they were', () => {
    const fields = Object.keys(validRow()).filter((k) => k !== 'preview_id')
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...fields), fc.jsonValue(), {maxKeys: 6}), (patch) => {
        const input = {...validRow(), ...patch}
        const out = checkRow(input, 3)
        expect(out.row).not.toBeNull()
        const row = out.row as PreviewRow
        expect(checkRow(row, 3).problems).toEqual([])
        for (const p of out.problems) {
          expect(p.preview_id).toBe('p-12345678')
          expect(p.row).toBe(3)
          expect(Object.keys(patch)).toContain(topField(p))
        }

        for (const f of fields) {
          if (!(f in patch)) expect(row[f]).toEqual(validRow()[f])
        }
      }),
      {numRuns: 2000, seed: 11},
    )
  })
})

describe('LastGoodLinks (the supervisor keeps its links while the row has them wrong-shaped)', () => {
  const problems = (field: string) => [{expected: 'Array', field, preview_id: 'p-12345678', row: 0}]

  it('keeps the links it had for links: null, and says so once in the log', () => {
    const log: string[] = []
    const good = new LastGoodLinks('p-12345678', (t) => log.push(t))
    good.links = [link('a')]
    const checked = checkRow({...validRow(), links: null}, 0)
    expect(good.take(checked.row!, checked.problems)).toEqual({links: [link('a')], repair: true})
    good.take(checked.row!, checked.problems)
    expect(log).toEqual(['state.json has wrong-shaped fields, ignored (last good value kept): row p-12345678: links is not Array'])
  })

  it('a revocation written next to a broken entry still applies; a clean read replaces the links', () => {
    const good = new LastGoodLinks('p-12345678', () => {})
    good.links = [link('a'), link('b')]
    const checked = checkRow({...validRow(), links: [{jti: 5}, link('b', true), link('c')]}, 0)
    expect(checked.problems.map((p) => p.field)).toEqual(['links[0].jti'])
    expect(good.take(checked.row!, checked.problems).links).toEqual([link('a'), link('b', true), link('c')])
    expect(good.take({...validRow(), links: [link('c')]}, []).links).toEqual([link('c')])
    // Problems of other rows are not ours.
    expect(good.take({...validRow(), links: [link('d')]}, [{...problems('links')[0]!, preview_id: 'p-00000000'}])).toEqual({
      links: [link('d')],
      repair: false,
    })
  })
})
