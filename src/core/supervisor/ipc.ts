// The messages between `preview start` (src/core/preview/manager.ts) and its supervisor process, over Node's IPC
// channel: the spec and the credential in, progress and then ready or failed out. Plain JSON both ways: the
// field names are the wire format, shared with a CLI of the same build only, but kept stable all the same.
import {isPreviewError} from '../errors.js'
import type {Credential} from '../records/credentials.js'
import type {AuthMode, PreviewRow, SandboxBackend} from '../records/types.js'
import type {ProviderConfig} from '../tunnels/types.js'
import type {AdoptedDevServer} from './dev-server.js'

/** Everything a supervisor needs, decided by `preview start` (it is sent over IPC, so plain JSON). */
export interface SupervisorSpec {
  id: string
  sddDir: string
  command: string
  cwd: string
  sandboxBackend: SandboxBackend
  sandboxSessionId: string | null
  provider: string
  providers: Record<string, ProviderConfig>
  authMode: AuthMode
  expiresAtEpoch: number
  readyTimeoutMs: number
  /** Idle scale-to-zero: stop the dev server after this long without a request (null: off). */
  idleTtlMs: number | null
  /** A dependency install to run before the dev command (fresh worktrees), or null. */
  install: string | null
  /** A dev server `preview start` already started (so its boot overlaps this process's); adopted once. */
  adopt?: AdoptedDevServer | null
  maxRestarts: number
  port: number
  env: Record<string, string>
  createdAtEpoch: number
  ref?: string | null
  /** The branch served (null when detached or attached). */
  branch?: string | null
  commit?: string | null
  /** `gateway.bind` from the config (default 127.0.0.1). */
  gatewayBind?: string | null
  /** How the command really runs when it is a package.json script run without its package manager (discovery/script-runner.ts). */
  run?: {command: string; env: Record<string, string>} | null
  /** Config gateway.idle_timeout: a client connection with nothing in flight is closed after this long. */
  gatewayIdleTimeoutMs?: number | null
  /** `--attach PORT`: front the server already listening there; no dev server is started, restarted or killed. */
  attachPort?: number | null
}

export interface ReadyMessage {
  type: 'ready'
  row: PreviewRow
  shareUrl: string
  warnings: string[]
}

export interface FailedMessage {
  type: 'failed'
  error: {code: string; message: string; hint: string | null; details: string[]; kind: 'bad-input' | 'runtime'}
}

/** A step of the start, for the progress display (discover, sandbox, install, dev server, port, tunnel, link). */
export interface ProgressMessage {
  type: 'progress'
  step: string
  detail: string
}

export type SupervisorMessage = ReadyMessage | FailedMessage | ProgressMessage

/** What `preview start` sends: the spec first, the credential as soon as the CLI has minted it. */
export type SupervisorInput = {type: 'spec'; spec: SupervisorSpec} | {type: 'credential'; credential: Credential}

/** Turns any error into the JSON-safe shape sent over IPC. */
export function serializeError(error: unknown): FailedMessage['error'] {
  if (isPreviewError(error)) {
    return {code: error.code, details: error.details, hint: error.hint ?? null, kind: error.kind, message: error.message}
  }

  return {code: 'INTERNAL', details: [], hint: null, kind: 'runtime', message: (error as Error)?.message ?? String(error)}
}
