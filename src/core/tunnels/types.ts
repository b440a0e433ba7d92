// The tunnel driver interface: one small contract every provider implements.

/** Every tunnel provider (a driver each, in drivers/). */
export type ProviderName = 'cloudflared' | 'ngrok' | 'bore' | 'tailscale' | 'localtunnel' | 'ssh' | 'local' | 'template' | 'caddy'
export const PROVIDERS: readonly ProviderName[] = [
  'cloudflared',
  'ngrok',
  'bore',
  'tailscale',
  'localtunnel',
  'ssh',
  'local',
  'template',
  'caddy',
]

/**
 * Providers whose driver runs a tool process (openProcessTunnel in util.ts, through execa), and `auto`, which
 * picks one of them first: the supervisor loads execa for these while the dev server boots.
 */
export const TOOL_PROVIDERS: ReadonlySet<string> = new Set(['auto', 'bore', 'cloudflared', 'ssh', 'tailscale'])

/** Provider settings from `.sdd/preview.yaml` `providers.<name>` (free-form per driver). */
export type ProviderConfig = Record<string, unknown>

export interface DriverContext {
  env: NodeJS.ProcessEnv
  config: ProviderConfig
  /** Where a driver may write a line of its own progress (goes to the preview's log file). */
  log?: (line: string) => void
}

export type Availability = {ok: true; detail?: string} | {ok: false; hint: string}

export interface OpenOptions extends DriverContext {
  /** The gateway's loopback URL, e.g. http://127.0.0.1:41234. Tunnels point here, never at the dev server. */
  localUrl: string
  gatewayPort: number
  /** The preview's id and ref, for drivers that name the public host after them (template, caddy). */
  previewId?: string
  ref?: string | null
  /** Overrides the driver's named start-up timeout (tests lower it). */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface TunnelHandle {
  publicUrl: string
  /** A provider-side name (named tunnel, subdomain, remote port), when there is one. */
  name?: string | null
  /** Pid of a helper process the driver runs (a process group leader), for cleanup from disk. */
  pid?: number | null
  /** Called at most once if the tunnel dies after open() resolved. */
  onExit(cb: (reason: string) => void): void
  /** Tears the tunnel down; leaves no process behind; safe to call twice. */
  close(): Promise<void>
}

export interface TunnelDriver {
  readonly name: ProviderName
  available(ctx: DriverContext): Promise<Availability>
  open(opts: OpenOptions): Promise<TunnelHandle>
}
