// What a running `preview serve` tells other commands about a repository it serves, in
// .sdd/runtime/preview/serve.json (0600): `preview list` shows its previews, `preview cleanup` leaves their
// worktrees alone, a second host for the same repository is refused, and a host that died without cleaning up
// (SIGKILL) has its dev servers stopped by the next one.
import {existsSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {InvalidInput} from '../errors.js'
import {ensureDir, writeFileAtomic} from '../fsutil.js'
import {isAlive, killGroup, procStartTime} from '../process.js'
import type {SddPaths} from '../records/paths.js'

export interface HostPreview {
  name: string
  label: string | null
  ref: string
  commit: string | null
  status: string
  port: number | null
  pid: number | null
  pid_start_time: number | null
  command: string | null
  worktree: string
  /** The preview's URL on the host (signed names included: the file is 0600, `list` hides signatures). */
  url: string
}

export interface HostFile {
  version: 1
  host_pid: number
  host_start_time: number | null
  url: string
  domain: string
  auth_mode: 'basic' | 'none' | 'token'
  updated_at_epoch: number
  previews: HostPreview[]
}

export function hostFilePath(paths: SddPaths): string {
  return path.join(paths.runtime, 'serve.json')
}

function read(paths: SddPaths): HostFile | null {
  const file = hostFilePath(paths)
  if (!existsSync(file)) return null
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as HostFile
    return doc && doc.version === 1 && Array.isArray(doc.previews) ? doc : null
  } catch {
    return null
  }
}

/** The file of a host that is alive now, else null. */
export function readLiveHost(paths: SddPaths): HostFile | null {
  const doc = read(paths)
  return doc !== null && isAlive(doc.host_pid, doc.host_start_time) ? doc : null
}

/**
 * Before a host serves a repository: refuses when another live host serves it, and stops the dev servers a dead
 * host left behind (each checked against its recorded start time, so a reused pid is never signalled).
 */
export async function claimRepo(paths: SddPaths, root: string): Promise<void> {
  const doc = read(paths)
  if (doc === null || doc.host_pid === process.pid) return
  if (isAlive(doc.host_pid, doc.host_start_time)) {
    throw new InvalidInput(
      `${root} is already served by preview serve (pid ${doc.host_pid}, ${doc.url}).`,
      'Stop that host first, or serve another checkout.',
    )
  }

  for (const p of doc.previews) if (p.pid && isAlive(p.pid, p.pid_start_time)) await killGroup(p.pid, {startTime: p.pid_start_time})
  rmSync(hostFilePath(paths), {force: true})
}

export function writeHostFile(paths: SddPaths, doc: Omit<HostFile, 'version' | 'host_pid' | 'host_start_time' | 'updated_at_epoch'>): void {
  ensureDir(paths.runtime)
  const full: HostFile = {
    ...doc,
    host_pid: process.pid,
    host_start_time: procStartTime(process.pid),
    updated_at_epoch: Math.floor(Date.now() / 1000),
    version: 1,
  }
  writeFileAtomic(hostFilePath(paths), `${JSON.stringify(full, null, 2)}\n`)
}

export function removeHostFile(paths: SddPaths): void {
  const doc = read(paths)
  if (doc !== null && doc.host_pid === process.pid) rmSync(hostFilePath(paths), {force: true})
}

/** Worktrees and log files a live host is using in this repository (`preview cleanup` keeps them). */
export function inUseByHost(paths: SddPaths): {worktrees: string[]; logs: string[]} {
  const host = readLiveHost(paths)
  if (host === null) return {logs: [], worktrees: []}
  return {
    logs: host.previews.map((p) => path.join(paths.logs, `host-${p.name}.log`)),
    worktrees: host.previews.map((p) => path.resolve(p.worktree)),
  }
}
