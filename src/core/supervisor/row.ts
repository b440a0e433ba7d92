// The preview's row in state.json as the supervisor writes and reads it.
import {StateCorrupt} from '../errors.js'
import {procStartTime} from '../process.js'
import {logFile, type SddPaths} from '../records/paths.js'
import {findRow, patchRow} from '../records/state.js'
import type {PreviewRow} from '../records/types.js'
import type {SupervisorSpec} from './ipc.js'

/** The row as first written (status `starting`), before anything runs. */
export function startingRow(spec: SupervisorSpec, paths: SddPaths): PreviewRow {
  return {
    auth_mode: spec.authMode,
    branch: spec.branch ?? null,
    command: spec.command,
    commit: spec.commit ?? null,
    created_at_epoch: spec.createdAtEpoch,
    cwd: spec.cwd,
    expires_at_epoch: spec.expiresAtEpoch,
    gateway_port: null,
    links: [],
    log_file: logFile(paths, spec.id),
    port: null,
    preview_id: spec.id,
    process_pid: null,
    public_url: null,
    ref: spec.ref ?? null,
    restarts: 0,
    sandbox_backend: spec.sandboxBackend,
    sandbox_session_id: spec.sandboxSessionId,
    share_url: null,
    status: 'starting',
    supervisor_pid: process.pid,
    supervisor_start_time: procStartTime(process.pid),
    tunnel_name: null,
    tunnel_provider: (spec.provider === 'auto' ? 'local' : spec.provider) as PreviewRow['tunnel_provider'],
  }
}

/**
 * Our row updated while running (idle, wake, restart, tunnel reopen). A state.json that does not parse is not a
 * reason to stop serving: the update is skipped and logged (the file is reported by every command).
 */
export async function patchOwnRow(paths: SddPaths, id: string, patch: Partial<PreviewRow>, event: (text: string) => void): Promise<void> {
  try {
    await patchRow(paths, id, patch)
  } catch (error) {
    if (!(error instanceof StateCorrupt)) throw error
    event(`state.json cannot be read, our row was not updated: ${error.message}`)
  }
}

/** Our row as state.json has it now (undefined when it cannot be read). */
export function readOwnRow(paths: SddPaths, id: string): PreviewRow | undefined {
  try {
    return findRow(paths, id)
  } catch {
    return undefined
  }
}
