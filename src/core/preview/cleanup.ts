// `preview cleanup`: worktrees preview made that no preview uses and the logs (events, requests) of previews that are gone.
import {existsSync, lstatSync, readdirSync, rmSync, statSync, type Dirent} from 'node:fs'
import path from 'node:path'
import {inUseByHost} from '../host/status-file.js'
import {run} from '../process.js'
import type {SddPaths} from '../records/paths.js'
import {readStateForCleanup} from '../records/state.js'
import {listWorktrees, removeWorktree} from '../sandbox/resolve.js'

export interface CleanupPlan {
  worktrees: Array<{path: string; bytes: number}>
  logs: Array<{path: string; bytes: number}>
  total_bytes: number
}

/** What cleanup would remove: worktrees preview made that no preview uses (never an agent's), and logs of previews that are gone. */
export function cleanupPlan(paths: SddPaths): CleanupPlan {
  const rows = readStateForCleanup(paths).previews
  const host = inUseByHost(paths) // a running `preview serve` keeps its worktrees and logs
  const used = new Set([...rows.map((r) => path.resolve(r.cwd)), ...host.worktrees])
  const ids = new Set(rows.map((r) => r.preview_id))
  // Only worktrees preview made itself (owner head or ref): an agent's worktree under .sdd/worktrees is its
  // work, maybe uncommitted, and is never ours to remove.
  const worktrees = listWorktrees(paths)
    .filter((w) => w.owner !== null && !used.has(path.resolve(w.dir)))
    .map((w) => ({bytes: diskUsage(w.dir), path: w.dir}))
  const logs = existsSync(paths.logs)
    ? readdirSync(paths.logs)
        .filter((f) => f.endsWith('.log') && !ids.has(f.slice(0, -4)) && !host.logs.includes(path.join(paths.logs, f)))
        .map((f) => ({bytes: statSync(path.join(paths.logs, f)).size, path: path.join(paths.logs, f)}))
    : []
  // The supervisor's events and request files (events.ts, requests.ts) of previews that are gone go with their logs.
  for (const dir of [path.join(paths.runtime, 'events'), path.join(paths.runtime, 'requests')]) {
    if (!existsSync(dir)) continue
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.jsonl') && !ids.has(f.slice(0, -6))) logs.push({bytes: statSync(path.join(dir, f)).size, path: path.join(dir, f)})
    }
  }

  return {logs, total_bytes: totalBytes(worktrees, logs), worktrees}
}

/** Removes what the plan lists (worktrees through git, so git forgets them too), except what came into use since. */
export async function cleanUp(paths: SddPaths, root: string | null, plan: CleanupPlan): Promise<CleanupPlan> {
  const inUse = new Set([...readStateForCleanup(paths).previews.map((r) => path.resolve(r.cwd)), ...inUseByHost(paths).worktrees])
  const removed: CleanupPlan = {logs: [], total_bytes: 0, worktrees: []}
  for (const w of plan.worktrees) {
    if (inUse.has(path.resolve(w.path))) continue // a preview started meanwhile
    if (root) await removeWorktree(root, w.path)
    if (existsSync(w.path)) rmSync(w.path, {force: true, recursive: true})
    removed.worktrees.push(w)
  }

  if (root) await run('git', ['worktree', 'prune'], {cwd: root, timeoutMs: 30_000})
  for (const l of plan.logs) {
    rmSync(l.path, {force: true})
    removed.logs.push(l)
  }

  removed.total_bytes = totalBytes(removed.worktrees, removed.logs)
  return removed
}

function totalBytes(...lists: Array<Array<{bytes: number}>>): number {
  return lists.flat().reduce((sum, e) => sum + e.bytes, 0)
}

/**
 * Bytes under a directory (symlinks not followed), bounded to 1,000,000 entries. Hand-written rather than a
 * library: it is twenty lines, synchronous like the rest of the plan, and bounded, which the size packages are not.
 */
function diskUsage(dir: string): number {
  let total = 0
  let seen = 0
  const stack = [dir]
  while (stack.length > 0 && seen < 1_000_000) {
    const current = stack.pop()!
    let entries: Dirent[]
    try {
      entries = readdirSync(current, {withFileTypes: true})
    } catch {
      continue
    }

    for (const e of entries) {
      seen += 1
      const full = path.join(current, e.name)
      if (e.isDirectory()) stack.push(full)
      else {
        try {
          total += lstatSync(full).size
        } catch {
          // vanished
        }
      }
    }
  }

  return total
}
