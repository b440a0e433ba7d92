// The preview's row in state.json as the supervisor first writes it (status `starting`), before anything runs.
import {procStartTime} from '../process.js'
import {logFile, type SddPaths} from '../records/paths.js'
import type {PreviewRow} from '../records/types.js'
import type {SupervisorSpec} from './ipc.js'

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
