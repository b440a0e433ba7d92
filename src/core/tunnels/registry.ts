// Driver lookup and `auto` selection, with install hints when nothing is available.
import {InvalidInput, TunnelFailed} from '../errors.js'
import {PROVIDERS, type ProviderName} from './types.js'
import {boreDriver} from './drivers/bore.js'
import {caddyDriver} from './drivers/caddy.js'
import {cloudflaredDriver} from './drivers/cloudflared.js'
import {localDriver} from './drivers/local.js'
import {localtunnelDriver} from './drivers/localtunnel.js'
import {ngrokDriver} from './drivers/ngrok.js'
import {sshDriver} from './drivers/ssh.js'
import {tailscaleDriver} from './drivers/tailscale.js'
import {templateDriver} from './drivers/template.js'
import type {Availability, DriverContext, ProviderConfig, TunnelDriver} from './types.js'

const drivers = new Map<ProviderName, TunnelDriver>(
  [cloudflaredDriver, ngrokDriver, boreDriver, tailscaleDriver, localtunnelDriver, sshDriver, localDriver, templateDriver, caddyDriver].map(
    (d) => [d.name, d],
  ),
)

/**
 * Order `auto` tries; `local` and explicit-only providers (localtunnel, ssh, and the edges template and caddy, which
 * need a proxy set up for them) are never picked by auto.
 */
export const AUTO_ORDER: readonly ProviderName[] = ['cloudflared', 'ngrok', 'tailscale', 'bore']

/** The driver for an explicit provider name; unknown names are bad input. */
export function getDriver(name: string): TunnelDriver {
  if (!PROVIDERS.includes(name as ProviderName)) {
    throw new InvalidInput(`Unknown provider "${name}".`, `Use one of: auto, ${PROVIDERS.join(', ')}.`)
  }

  const driver = drivers.get(name as ProviderName)
  if (!driver) {
    throw new TunnelFailed(name, 'not-configured', `The ${name} driver is not available in this build.`, 'Use --provider local.')
  }

  return driver
}

/** Resolves `auto` to the first available driver; throws with every provider's hint when none is. */
export async function selectDriver(name: string, env: NodeJS.ProcessEnv, providers: Record<string, ProviderConfig>): Promise<TunnelDriver> {
  if (name !== 'auto') return getDriver(name)
  const hints: string[] = []
  for (const candidate of AUTO_ORDER) {
    const driver = drivers.get(candidate)
    if (!driver) {
      hints.push(`${candidate}: not built in`)
      continue
    }

    const ctx: DriverContext = {config: providers[candidate] ?? {}, env}
    let availability: Availability
    try {
      // One at a time on purpose: the order is the point, the first available wins.
      availability = await driver.available(ctx)
    } catch (error) {
      availability = {hint: `could not check (${(error as Error).message})`, ok: false}
    }

    if (availability.ok) return driver
    hints.push(`${candidate}: ${availability.hint}`)
  }

  // Never picked by auto, but worth naming: they work when asked for.
  hints.push(
    'localtunnel: explicit only: --provider localtunnel (public loca.lt server, or providers.localtunnel.host)',
    'ssh: explicit only: --provider ssh with providers.ssh.destination (any OpenSSH server, localhost.run, sish, pinggy)',
    'template, caddy: explicit only: your own edge (nginx or Caddy) on your domain, see docs/edge.md',
  )
  throw new TunnelFailed(
    'auto',
    'binary-missing',
    'No tunnel provider is available for --provider auto.',
    'Install or configure one of the providers above, or run with --provider local for a loopback-only preview.',
    hints,
  )
}
