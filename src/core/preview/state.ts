// The registry of previews: state.json (0600), written under a lock by temp file + rename.
import {copyFileSync, existsSync, readFileSync} from 'node:fs'
import {debugFor} from '../debug.js'
import {StateCorrupt} from '../errors.js'
import {writeFileAtomic} from '../fsutil.js'
import {withLock} from '../lock.js'
import type {SddPaths} from './paths.js'
import type {PreviewRow, StateFile} from './types.js'

const debug = debugFor('state')

function emptyState(): StateFile {
  return {previews: [], version: 1}
}

/** Reads state.json; a missing file is an empty registry, an unreadable one a StateCorrupt error (with a backup kept). */
export function readState(paths: SddPaths): StateFile {
  if (!existsSync(paths.state)) return emptyState()
  const text = readFileSync(paths.state, 'utf8')
  if (text.trim() === '') return emptyState()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw corrupt(paths, `not valid JSON (${(error as Error).message})`)
  }

  if (!parsed || typeof parsed !== 'object' || !Array.isArray((parsed as StateFile).previews)) {
    throw corrupt(paths, 'expected {"version":1,"previews":[...]}')
  }

  return parsed as StateFile
}

function corrupt(paths: SddPaths, why: string): StateCorrupt {
  const backup = `${paths.state}.corrupt-${Date.now()}`
  try {
    copyFileSync(paths.state, backup)
  } catch {
    return new StateCorrupt(paths.state, why)
  }

  return new StateCorrupt(paths.state, why, backup)
}

/** Read-modify-write under the lock. `fn` may mutate the state and returns a value. */
export async function updateState<T>(paths: SddPaths, fn: (state: StateFile) => T | Promise<T>): Promise<T> {
  return withLock(paths.state, async () => {
    const state = readState(paths)
    const result = await fn(state)
    writeFileAtomic(paths.state, JSON.stringify(state, null, 2) + '\n', 0o600)
    debug('wrote %s (%d previews)', paths.state, state.previews.length)
    return result
  })
}

export async function upsertRow(paths: SddPaths, row: PreviewRow): Promise<void> {
  await updateState(paths, (state) => {
    const i = state.previews.findIndex((r) => r.preview_id === row.preview_id)
    if (i === -1) state.previews.push(row)
    else state.previews[i] = row
  })
}

/** Applies a patch to a row if it still exists; returns the updated row (or null when it was removed). */
export async function patchRow(paths: SddPaths, id: string, patch: Partial<PreviewRow>): Promise<PreviewRow | null> {
  return updateState(paths, (state) => {
    const row = state.previews.find((r) => r.preview_id === id)
    if (!row) return null
    Object.assign(row, patch)
    return {...row}
  })
}

export async function removeRow(paths: SddPaths, id: string): Promise<PreviewRow | null> {
  return updateState(paths, (state) => {
    const i = state.previews.findIndex((r) => r.preview_id === id)
    if (i === -1) return null
    const [row] = state.previews.splice(i, 1)
    return row ?? null
  })
}

export function findRow(paths: SddPaths, id: string): PreviewRow | undefined {
  return readState(paths).previews.find((r) => r.preview_id === id)
}
