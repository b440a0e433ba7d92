// Leaving out the id: the only running preview, or a bad-input error that says why and names the candidates.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {PreviewError} from '../../src/core/errors.js'
import {resolvePreviewId} from '../../src/core/preview/defaults.js'
import {sddPaths, type SddPaths} from '../../src/core/records/paths.js'
import {upsertRow} from '../../src/core/records/state.js'
import {procStartTime} from '../../src/core/process.js'
import type {PreviewRow} from '../../src/core/records/types.js'

let dir: string
let paths: SddPaths
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'defaults-'))
  paths = sddPaths(path.join(dir, '.sdd'))
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

/** A pid that existed and is gone now (a real exited child). */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!

const row = (id: string, supervisorPid: number, status = 'running') =>
  ({
    links: [],
    preview_id: id,
    public_url: null,
    restarts: 0,
    status,
    supervisor_pid: supervisorPid,
    supervisor_start_time: procStartTime(supervisorPid),
  }) as unknown as PreviewRow

function errorOf(fn: () => unknown): PreviewError {
  try {
    fn()
  } catch (error) {
    if (error instanceof PreviewError) return error
    throw error
  }

  throw new Error('expected a PreviewError')
}

describe('resolvePreviewId', () => {
  it('an id given is used as it is (even with nothing running)', () => {
    expect(resolvePreviewId(paths, 'p-12345678', 'status')).toBe('p-12345678')
  })

  it('no preview running: NO_RUNNING_PREVIEW, exit 2, saying how to start one', () => {
    const err = errorOf(() => resolvePreviewId(paths, undefined, 'logs'))
    expect(err).toMatchObject({code: 'NO_RUNNING_PREVIEW', exitCode: 2})
    expect(err.hint).toContain('preview logs <id>')
  })

  it('takes the only running preview; crashed and dead-supervisor rows do not count', async () => {
    await upsertRow(paths, row('p-aaaaaaaa', process.pid))
    await upsertRow(paths, row('p-bbbbbbbb', deadPid()))
    await upsertRow(paths, row('p-cccccccc', process.pid, 'crashed'))
    expect(resolvePreviewId(paths, undefined, 'status')).toBe('p-aaaaaaaa')
  })

  it('several running: AMBIGUOUS_PREVIEW, exit 2, naming each', async () => {
    await upsertRow(paths, row('p-aaaaaaaa', process.pid))
    await upsertRow(paths, row('p-dddddddd', process.pid, 'idle'))
    const err = errorOf(() => resolvePreviewId(paths, undefined, 'share'))
    expect(err).toMatchObject({code: 'AMBIGUOUS_PREVIEW', exitCode: 2})
    expect(err.message).toContain('p-aaaaaaaa')
    expect(err.message).toContain('p-dddddddd')
    expect(err.details).toHaveLength(2)
  })
})
