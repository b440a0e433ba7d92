import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {StateCorrupt} from '../../src/core/errors.js'
import {sddPaths, type SddPaths} from '../../src/core/preview/paths.js'
import {readState, removeRow, updateState, upsertRow} from '../../src/core/preview/state.js'
import type {PreviewRow} from '../../src/core/preview/types.js'

let dir: string
let paths: SddPaths
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'state-'))
  paths = sddPaths(path.join(dir, '.sdd'))
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

const row = (id: string) => ({preview_id: id, status: 'running', links: [], restarts: 0}) as unknown as PreviewRow

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
})
