// A supervisor process started before the CLI has even loaded oclif: `preview start` otherwise pays two Node
// cold starts in series (the CLI, then the supervisor) before the dev server spawns. The warm supervisor waits
// for its spec on IPC; if the start never sends one (bad input, --help), it exits when the CLI does.
import type {ChildProcess} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {spawnNodeDetached} from '../process.js'

/** The supervisor's entry point, next to this file in dist/. */
export const SUPERVISOR_SCRIPT = fileURLToPath(new URL('supervisor-main.js', import.meta.url))

let warm: ChildProcess | null = null

/** Spawns a supervisor that waits for a spec; it never keeps this process alive by itself. */
export function prewarmSupervisor(env: NodeJS.ProcessEnv = process.env): void {
  if (warm) return
  const child = spawnNodeDetached(SUPERVISOR_SCRIPT, [], {cwd: process.cwd(), env})
  child.on('error', () => {}) // failing to pre-warm only means the start spawns one the usual way
  child.unref()
  child.channel?.unref()
  warm = child
}

/** The warm supervisor, if one is still waiting (and takes it: a second start gets none). */
export function takePrewarmed(): ChildProcess | null {
  const child = warm
  warm = null
  if (!child || !child.connected || child.exitCode !== null || child.signalCode !== null) return null
  child.ref()
  child.channel?.ref()
  return child
}
