// The preview's tunnel: opened once the gateway listens, its public URL probed before the link is printed, and
// reopened once if it dies after the start (a second death, or a failed reopen, stops the preview).
import type {ProviderConfig, ProviderName, TunnelDriver, TunnelHandle} from '../tunnels/types.js'

/** At most this long is spent checking that the public URL answers before the link is printed. */
export const PROBE_BUDGET_MS = 3000

export type SelectDriver = (name: string, env: NodeJS.ProcessEnv, providers: Record<string, ProviderConfig>) => Promise<TunnelDriver>

export interface TunnelKeeperOptions {
  previewId: string
  ref: string | null
  /** The provider asked for (`auto` included) and the configured ones. */
  provider: string
  providers: Record<string, ProviderConfig>
  /** The preview's environment (PREVIEW_PROBE_TIMEOUT_MS). */
  env: Record<string, string>
  event: (text: string) => void
  /** False while the start is still running or once stopping: a tunnel exit then is not ours to mend. */
  active: () => boolean
  /** The tunnel came back (a quick tunnel under a new hostname). */
  reopened: (tunnel: TunnelHandle) => Promise<void>
  /** It died again, or could not reopen: the preview stops. */
  lost: () => Promise<void>
}

export class TunnelKeeper {
  private handle: TunnelHandle | null = null
  private select: SelectDriver | null = null
  private gateway: {port: number; url: string} | null = null
  /** A fact, not a state: the one reopen has been spent (the preview runs either way until the next exit). */
  private reopenedOnce = false

  constructor(private readonly opts: TunnelKeeperOptions) {}

  get tunnel(): TunnelHandle | null {
    return this.handle
  }

  /** Picks the driver (`onDriver` hears its name first, for the progress display) and opens the tunnel to the gateway. */
  async open(
    select: SelectDriver,
    gateway: {port: number; url: string},
    onDriver: (name: string) => void,
  ): Promise<{driver: ProviderName; tunnel: TunnelHandle}> {
    this.select = select
    this.gateway = gateway
    const driver = await select(this.opts.provider, process.env, this.opts.providers)
    onDriver(driver.name)
    const tunnel = await this.openWith(driver)
    this.handle = tunnel
    return {driver: driver.name, tunnel}
  }

  private async openWith(driver: TunnelDriver): Promise<TunnelHandle> {
    const {opts} = this
    const tunnel = await driver.open({
      config: opts.providers[driver.name] ?? {},
      env: process.env,
      gatewayPort: this.gateway!.port,
      localUrl: this.gateway!.url,
      log: (line) => opts.event(`tunnel: ${line}`),
      previewId: opts.previewId,
      ref: opts.ref,
    })
    tunnel.onExit((reason) => void this.onExit(reason, driver.name))
    return tunnel
  }

  private async onExit(reason: string, provider: string): Promise<void> {
    const {opts} = this
    if (!opts.active()) return
    opts.event(`tunnel (${provider}) exited: ${reason}`)
    if (this.reopenedOnce || !this.gateway || !this.select) {
      await opts.lost()
      return
    }

    this.reopenedOnce = true
    try {
      const tunnel = await this.openWith(await this.select(provider, process.env, opts.providers))
      if (!opts.active()) {
        await tunnel.close()
        return
      }

      this.handle = tunnel
      await opts.reopened(tunnel)
      opts.event(`tunnel reopened: ${tunnel.publicUrl}`)
    } catch (error) {
      opts.event(`tunnel reopen failed: ${(error as Error).message}`)
      await opts.lost()
    }
  }

  /**
   * Quick-tunnel hostnames resolve a few seconds after they are printed: wait for the public URL, bounded,
   * and warn rather than fail. PREVIEW_PROBE_TIMEOUT_MS=0 turns it off (tests: no traffic off loopback).
   */
  async probe(provider: string, url: string): Promise<string | null> {
    const budget = Number(this.opts.env.PREVIEW_PROBE_TIMEOUT_MS ?? PROBE_BUDGET_MS)
    // Your own edge (template, caddy): the name is yours, often on split or private DNS that public resolvers
    // cannot see; asking them would only delay every start by the budget and warn wrongly.
    if (provider === 'local' || provider === 'template' || provider === 'caddy' || !(budget > 0)) return null
    const {probePublicUrl} = await import('../tunnels/probe.js')
    const warning = await probePublicUrl(url, {timeoutMs: budget})
    if (warning) this.opts.event(`probe: ${warning}`)
    return warning
  }

  /** A link of ours moved onto the tunnel's origin now (tokens do not name the host). */
  rehost(link: string | null): string | null {
    return this.handle ? rehost(link, this.handle.publicUrl) : link
  }

  /** Closes the tunnel (errors logged, not thrown); safe to call twice. */
  async close(): Promise<void> {
    const tunnel = this.handle
    this.handle = null
    if (tunnel) await tunnel.close().catch((error: Error) => this.opts.event(`tunnel close: ${error.message}`))
  }
}

/** The same link on another origin (after a tunnel came back under a new hostname). */
export function rehost(link: string | null, publicUrl: string): string | null {
  if (!link) return link
  const u = new URL(link)
  const origin = new URL(publicUrl)
  u.protocol = origin.protocol
  u.host = origin.host
  return u.toString()
}
