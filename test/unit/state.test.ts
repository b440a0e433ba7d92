import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {StateCorrupt} from '../../src/core/errors.js'
import {sddPaths, type SddPaths} from '../../src/core/records/paths.js'
import {
  patchRow,
  readState,
  readStateChecked,
  readStateForCleanup,
  removeRow,
  updateState,
  upsertRow,
} from '../../src/core/records/state.js'
import {CORRUPT_BACKUPS_KEPT} from '../../src/core/records/corrupt-backup.js'
import type {PreviewRow} from '../../src/core/records/types.js'

let dir: string
let paths: SddPaths
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'state-'))
  paths = sddPaths(path.join(dir, '.sdd'))
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

const row = (id: string) => ({cwd: `/w/${id}`, links: [], preview_id: id, restarts: 0, status: 'running'}) as unknown as PreviewRow

describe('state.json', () => {
  it('is 0600 and keeps every row under 40 concurrent writers', async () => {
    await Promise.all(Array.from({length: 40}, (_, i) => upsertRow(paths, row(`p-${String(i).padStart(8, '0')}`))))
    expect(readState(paths).previews).toHaveLength(40)
    expect(statSync(paths.state).mode & 0o777).toBe(0o600)
    await removeRow(paths, 'p-00000003')
    expect(readState(paths).previews.map((r) => r.preview_id)).not.toContain('p-00000003')
    expect(readdirSync(paths.runtime).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('a corrupt file is an error naming it, with a backup kept and nothing overwritten', async () => {
    await upsertRow(paths, row('p-11111111'))
    writeFileSync(paths.state, '{"version":1,"previews":[{"preview_id":')
    expect(() => readState(paths)).toThrow(StateCorrupt)
    await expect(updateState(paths, (s) => s.previews.push(row('p-22222222')))).rejects.toThrow(/state\.json cannot be read/)
    expect(readFileSync(paths.state, 'utf8')).toBe('{"version":1,"previews":[{"preview_id":')
    const backups = readdirSync(paths.runtime).filter((f) => f.startsWith('state.json.corrupt-'))
    expect(backups.length).toBeGreaterThan(0)
  })

  it('one backup per distinct corrupt content, however often it is read; only the newest few are kept', () => {
    mkdirSync(paths.runtime, {recursive: true})
    const backups = () => readdirSync(paths.runtime).filter((f) => f.startsWith('state.json.corrupt-'))
    const big = '{"previews":[' + 'x'.repeat(1_000_000)
    writeFileSync(paths.state, big)
    for (let i = 0; i < 5; i++) expect(() => readState(paths)).toThrow(StateCorrupt)
    expect(backups()).toHaveLength(1)
    const [first] = backups()
    expect(readFileSync(path.join(paths.runtime, first!), 'utf8')).toBe(big)
    expect(statSync(path.join(paths.runtime, first!)).mode & 0o777).toBe(0o600)
    // The error names the copy it kept.
    const error = (() => {
      try {
        readState(paths)
      } catch (e) {
        return e as StateCorrupt
      }
    })()
    expect(error?.hint).toContain(`A copy was kept at ${path.join(paths.runtime, first!)}`)

    for (let i = 0; i < 6; i++) {
      writeFileSync(paths.state, `{"broken": ${i}`)
      expect(() => readState(paths)).toThrow(StateCorrupt)
      expect(() => readState(paths)).toThrow(StateCorrupt)
    }

    expect(backups()).toHaveLength(CORRUPT_BACKUPS_KEPT)
    const kept = backups()
      .map((f) => readFileSync(path.join(paths.runtime, f), 'utf8'))
      .sort()
    expect(kept).toEqual(['{"broken": 3', '{"broken": 4', '{"broken": 5'])
  })

  it('a wrong-shaped field is reported (name, not value) and replaced by a safe default; the rest of the row and extra fields stay', async () => {
    mkdirSync(paths.runtime, {recursive: true})
    const good = {auth_mode: 'token', expires_at_epoch: 2_000_000_000, jti: 'good', revoked: false}
    writeFileSync(
      paths.state,
      JSON.stringify({
        previews: [
          {
            ...row('p-11111111'),
            command: 'npm run dev',
            cwd: '/w',
            links: null,
            mine: {x: 1},
            port: 'x',
            process_pid: 0,
            restarts: -1,
            share_url: 42,
            status: 'running',
          },
          {...row('p-22222222'), cwd: '/v', links: [{jti: 5}, good, 'nope']},
        ],
        version: 1,
      }),
    )
    const {problems, state} = readStateChecked(paths)
    const [a, b] = state.previews
    expect(a).toMatchObject({
      command: 'npm run dev',
      cwd: '/w',
      links: [],
      mine: {x: 1},
      port: null,
      process_pid: null,
      restarts: 0,
      share_url: null,
      status: 'running',
    })
    expect(b!.links).toEqual([good])
    const fields = problems.map((p) => `${p.preview_id} ${p.field}`)
    for (const f of [
      'p-11111111 links',
      'p-11111111 port',
      'p-11111111 restarts',
      'p-11111111 process_pid',
      'p-11111111 share_url',
      'p-22222222 links[0].jti',
      'p-22222222 links[2]',
    ]) {
      expect(fields).toContain(f)
    }

    expect(fields.filter((f) => f.startsWith('p-22222222 links[1]'))).toEqual([])
    expect(JSON.stringify(problems)).not.toContain('42')
  })

  it('a row nobody can identify is hidden from readers but survives writes; cleanup refuses to guess', async () => {
    mkdirSync(paths.runtime, {recursive: true})
    writeFileSync(
      paths.state,
      JSON.stringify({previews: [{cwd: '/w', preview_id: 7}, 'junk', {...row('p-11111111'), cwd: '/v'}], version: 1}),
    )
    expect(readState(paths).previews.map((r) => r.preview_id)).toEqual(['p-11111111'])
    await upsertRow(paths, row('p-33333333'))
    const raw = JSON.parse(readFileSync(paths.state, 'utf8')).previews
    expect(raw).toContainEqual({cwd: '/w', preview_id: 7})
    expect(raw).toContain('junk')
    expect(() => readStateForCleanup(paths)).toThrow(/preview_id is not/)
  })

  it("a write keeps wrong-shaped fields nobody changed as they were on disk (the row's supervisor repairs them), unless told to repair them", async () => {
    mkdirSync(paths.runtime, {recursive: true})
    writeFileSync(paths.state, JSON.stringify({previews: [{...row('p-11111111'), links: null, port: 'x', restarts: -1}], version: 1}))
    await upsertRow(paths, row('p-22222222'))
    const onDisk = () => JSON.parse(readFileSync(paths.state, 'utf8')).previews[0]
    expect(onDisk()).toMatchObject({links: null, port: 'x', restarts: -1})
    await patchRow(paths, 'p-11111111', {port: 5173})
    expect(onDisk()).toMatchObject({links: null, port: 5173, restarts: -1})
    expect(readState(paths).previews[0]).toMatchObject({links: [], port: 5173, restarts: 0})
    await updateState(paths, () => {}, {repair: {fields: ['links'], preview_id: 'p-11111111'}})
    expect(onDisk()).toMatchObject({links: [], port: 5173, restarts: -1})
    expect(
      readStateChecked(paths)
        .problems.filter((p) => p.preview_id === 'p-11111111' && ['links', 'port', 'restarts'].includes(p.field))
        .map((p) => p.field),
    ).toEqual(['restarts'])
  })
})
