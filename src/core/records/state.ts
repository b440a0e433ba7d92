// The registry of previews: state.json (0600), written under a lock by temp file + rename.
// Rows are checked field by field (src/core/records/state-schema.ts): a wrong-shaped field is reported and
// replaced by a safe default, so no content of a parseable file breaks a reader or a supervisor.
import {existsSync, readFileSync} from 'node:fs'
import {debugFor} from '../debug.js'
import {StateCorrupt} from '../errors.js'
import {writeFileAtomic} from '../fsutil.js'
import {withLock} from '../lock.js'
import {keepCorruptBackup} from './corrupt-backup.js'
import {checkRow, describeProblem, topField, type RowProblem} from './state-schema.js'
import type {SddPaths} from './paths.js'
import type {PreviewRow, StateFile} from './types.js'

export type {RowProblem} from './state-schema.js'

const debug = debugFor('state')

/** For rows read with wrong-shaped fields: the row as it was on disk, and which top-level fields were bad. */
const asRead = new WeakMap<PreviewRow, {raw: Record<string, unknown>; fields: Set<string>}>()

/** state.json as read: the rows (bad fields replaced), what was wrong, and rows nobody can identify. */
export interface StateRead {
  state: StateFile
  /** Every wrong-shaped field of every row (field names and expected shapes only, never values). */
  problems: RowProblem[]
  /** Rows that are not objects or have no preview_id: hidden from readers, written back untouched. */
  unreadable: unknown[]
}

function emptyRead(): StateRead {
  return {problems: [], state: {previews: [], version: 1}, unreadable: []}
}

/** Reads state.json and checks every row; a missing file is an empty registry, an unparseable one a StateCorrupt error (with a backup kept). */
export function readStateChecked(paths: SddPaths): StateRead {
  if (!existsSync(paths.state)) return emptyRead()
  const bytes = readFileSync(paths.state)
  const text = bytes.toString('utf8')
  if (text.trim() === '') return emptyRead()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw corrupt(paths, bytes, `not valid JSON (${(error as Error).message})`)
  }

  if (!parsed || typeof parsed !== 'object' || !Array.isArray((parsed as StateFile).previews)) {
    throw corrupt(paths, bytes, 'expected {"version":1,"previews":[...]}')
  }

  const file = parsed as Record<string, unknown> & {previews: unknown[]}
  const previews: PreviewRow[] = []
  const problems: RowProblem[] = []
  const unreadable: unknown[] = []
  for (const [i, raw] of file.previews.entries()) {
    const checked = checkRow(raw, i)
    problems.push(...checked.problems)
    if (!checked.row) {
      unreadable.push(raw)
      continue
    }

    previews.push(checked.row)
    if (checked.problems.length > 0) {
      asRead.set(checked.row, {fields: new Set(checked.problems.map((p) => topField(p))), raw: raw as Record<string, unknown>})
    }
  }

  for (const p of problems) debug('%s: %s (a safe default is used)', paths.state, describeProblem(p))
  return {problems, state: {...file, previews, version: 1} as StateFile, unreadable}
}

/** Reads state.json (rows checked; see readStateChecked). */
export function readState(paths: SddPaths): StateFile {
  return readStateChecked(paths).state
}

function corrupt(paths: SddPaths, bytes: Uint8Array, why: string): StateCorrupt {
  return new StateCorrupt(paths.state, why, keepCorruptBackup(paths.state, bytes))
}

/**
 * Read-modify-write under the lock. `fn` may mutate the state and returns a value; it also gets what was
 * wrong with the rows as read (so a caller that knows better can put the last good value back).
 * Nothing recorded is dropped by a write: rows nobody can identify are written back as they were, and so is
 * every wrong-shaped field `fn` left alone (readers keep getting the default; the one who knows the right
 * value, say the row's supervisor, repairs it). `opts.repair` names fields of one row that are written as
 * `fn` left them, defaults included.
 */
export async function updateState<T>(
  paths: SddPaths,
  fn: (state: StateFile, problems: RowProblem[]) => T | Promise<T>,
  opts: {repair?: {preview_id: string; fields: readonly string[]}} = {},
): Promise<T> {
  return withLock(paths.state, async () => {
    const {problems, state, unreadable} = readStateChecked(paths)
    const restore = keepBadFields(state, opts.repair)
    const result = await fn(state, problems)
    restore()
    const out = unreadable.length > 0 ? {...state, previews: [...state.previews, ...unreadable]} : state
    writeFileAtomic(paths.state, JSON.stringify(out, null, 2) + '\n', 0o600)
    debug('wrote %s (%d previews)', paths.state, state.previews.length)
    return result
  })
}

/** Snapshots the defaults that stand in for bad fields; the returned function puts back the on-disk value of each one `fn` did not change. */
function keepBadFields(state: StateFile, repair: {preview_id: string; fields: readonly string[]} | undefined): () => void {
  const kept: Array<{row: PreviewRow; field: string; before: string | undefined; raw: unknown}> = []
  for (const row of state.previews) {
    const read = asRead.get(row)
    if (!read) continue
    for (const field of read.fields) {
      if (repair?.preview_id === row.preview_id && repair.fields.includes(field)) continue
      kept.push({before: JSON.stringify(row[field]), field, raw: read.raw[field], row})
    }
  }

  return () => {
    const present = new Set(state.previews)
    for (const k of kept) {
      if (!present.has(k.row) || JSON.stringify(k.row[k.field]) !== k.before) continue
      if (k.raw === undefined) delete k.row[k.field]
      else k.row[k.field] = k.raw
    }
  }
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

/**
 * The rows, for a decision that deletes things (cleanup): a row whose id or cwd cannot be read might be using
 * any worktree, so this refuses rather than let a default stand in for it.
 */
export function readStateForCleanup(paths: SddPaths): StateFile {
  const read = readStateChecked(paths)
  const blocking = read.problems.find((p) => p.preview_id === null || p.field === 'cwd')
  if (blocking) throw new StateCorrupt(paths.state, `${describeProblem(blocking)}, so it is unknown which worktree it uses`)
  return read.state
}
