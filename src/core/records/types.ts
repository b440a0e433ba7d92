// Shared record types: the state row and the options of the core verbs (snake_case on disk, as ARCHITECTURE.md).

export type AuthMode = 'token' | 'basic' | 'none'
export const AUTH_MODES: readonly AuthMode[] = ['token', 'basic', 'none']

export type {ProviderName} from '../tunnels/types.js'
export {PROVIDERS} from '../tunnels/types.js'
import type {ProviderName} from '../tunnels/types.js'

export type PreviewStatus = 'starting' | 'running' | 'idle' | 'stopping' | 'crashed'
export type StopReason = 'operator' | 'expiry' | 'crash'
/** worktree (a git worktree), cwd (--cwd or --working-copy: a directory as it is), attached (--attach PORT). */
export type SandboxBackend = 'worktree' | 'cwd' | 'attached'

export interface LinkRecord {
  jti: string
  auth_mode: AuthMode
  expires_at_epoch: number
  revoked: boolean
  created_at_epoch?: number
  /** basic mode: SHA-256 of the password (the password itself is only in the share URL). */
  password_sha256?: string
  /** basic mode: the user name when it is not `preview` (a `preview serve --basic-auth USER:PASS`, in memory). */
  user?: string
}

export interface PreviewRow {
  preview_id: string
  status: PreviewStatus
  command: string
  cwd: string
  port: number | null
  gateway_port: number | null
  sandbox_backend: SandboxBackend
  sandbox_session_id: string | null
  tunnel_provider: ProviderName
  tunnel_name: string | null
  public_url: string | null
  share_url: string | null
  auth_mode: AuthMode
  expires_at_epoch: number
  process_pid: number | null
  supervisor_pid: number | null
  restarts: number
  created_at_epoch: number
  links: LinkRecord[]
  /** Start times (from /proc, clock ticks since boot) so pids read back from disk are not mistaken after reuse. */
  process_start_time?: number | null
  supervisor_start_time?: number | null
  /** A tunnel helper process group, when the driver runs a binary. */
  tunnel_pid?: number | null
  tunnel_start_time?: number | null
  log_file?: string
  ref?: string | null
  /** The branch served (null when detached); the commit checked out (null for an attached server). */
  branch?: string | null
  commit?: string | null
  [extra: string]: unknown
}

export interface StateFile {
  version: 1
  previews: PreviewRow[]
}
