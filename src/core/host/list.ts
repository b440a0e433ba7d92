// The previews a live `preview serve` runs for this repository, as rows for `preview list` (marked `serve`).
import type {SddPaths} from '../records/paths.js'
import {readLiveHost} from './status-file.js'

/** A host preview as `preview list` shows it: the state-row fields that apply, and `served_by`. */
export interface ServedRow {
  preview_id: string
  status: string
  command: string | null
  cwd: string
  port: number | null
  gateway_port: number | null
  sandbox_backend: 'worktree'
  sandbox_session_id: string
  tunnel_provider: 'serve'
  public_url: string
  auth_mode: 'basic' | 'none' | 'token'
  process_pid: number | null
  ref: string
  commit: string | null
  served_by: {host_pid: number; url: string; domain: string}
}

/** `--NNNN…` signatures hidden unless asked: a signed name is what lets a request run code on the host. */
function redactSignature(url: string): string {
  return url.replace(/--[0-9a-f]{20}\./, '--<sig>.')
}

export function servedRows(paths: SddPaths, opts: {showSecrets?: boolean} = {}): ServedRow[] {
  const host = readLiveHost(paths)
  if (host === null) return []
  const gatewayPort = Number(new URL(host.url).port) || null
  return host.previews.map((p) => ({
    auth_mode: host.auth_mode,
    command: p.command,
    commit: p.commit,
    cwd: p.worktree,
    gateway_port: gatewayPort,
    port: p.port,
    preview_id: `serve:${p.name}`,
    process_pid: p.pid,
    public_url: opts.showSecrets ? p.url : redactSignature(p.url),
    ref: p.ref,
    sandbox_backend: 'worktree',
    sandbox_session_id: `host-${p.name}`,
    served_by: {domain: host.domain, host_pid: host.host_pid, url: host.url},
    status: p.status,
    tunnel_provider: 'serve',
  }))
}
