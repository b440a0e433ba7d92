// Copies of a state file that could not be parsed: one per distinct content, the newest few kept.
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'
import {writeFileAtomic} from '../fsutil.js'

/** How many distinct corrupt contents are kept (the newest); older copies are removed. */
export const CORRUPT_BACKUPS_KEPT = 3

/**
 * Keeps `bytes` (what was read, not the file now: it may have changed since) next to `file` as
 * `<file>.corrupt-<first 16 hex of its SHA-256>`, 0600. The same content seen again is not copied again, so
 * reading a large corrupt file over and over costs no disk; a new content pushes the oldest copy out.
 * Returns the backup's path, or undefined when it could not be written (a full disk must not hide the error).
 */
export function keepCorruptBackup(file: string, bytes: Uint8Array, keep = CORRUPT_BACKUPS_KEPT): string | undefined {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16)
  const backup = `${file}.corrupt-${hash}`
  try {
    if (!existsSync(backup)) writeFileAtomic(backup, bytes, 0o600)
  } catch {
    return undefined
  }

  prune(file, backup, keep)
  return backup
}

/** The backups of `file`, newest first (by mtime; name breaks ties so the order is stable). */
function corruptBackups(file: string): string[] {
  const dir = path.dirname(file)
  const prefix = `${path.basename(file)}.corrupt-`
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(prefix) && !n.endsWith('.tmp'))
  } catch {
    return []
  }

  const withTime = names.map((n) => {
    const full = path.join(dir, n)
    try {
      return {full, mtime: statSync(full).mtimeMs}
    } catch {
      return {full, mtime: 0}
    }
  })
  return withTime.sort((a, b) => b.mtime - a.mtime || b.full.localeCompare(a.full)).map((e) => e.full)
}

function prune(file: string, current: string, keep: number): void {
  const others = corruptBackups(file).filter((b) => b !== current)
  for (const old of others.slice(Math.max(0, keep - 1))) rmSync(old, {force: true})
}
