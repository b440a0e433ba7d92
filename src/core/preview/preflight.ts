// Checks before anything starts: the tunnel provider can run (binary, settings), an attached port answers.
import {tcpProbe} from '../netprobe.js'
import {InvalidInput, TunnelFailed} from '../errors.js'
import type {ProviderConfig} from '../tunnels/types.js'

/**
 * The provider a start will use, checked now (binary found, required settings present) so a missing one fails
 * at once with the provider's own hint instead of after the install and the dev server. `auto` resolves to the
 * first available provider. A missing setting is bad input (exit 2); a missing tool is a runtime failure (1).
 */
export async function preflightTunnel(
  provider: string,
  env: NodeJS.ProcessEnv,
  providers: Record<string, ProviderConfig>,
): Promise<string> {
  if (provider === 'local') return provider // nothing to check (and the drivers need not load)
  const {getDriver, selectDriver} = await import('../tunnels/registry.js')
  if (provider === 'auto') return (await selectDriver('auto', env, providers)).name
  const driver = getDriver(provider)
  let availability: Awaited<ReturnType<typeof driver.available>>
  try {
    availability = await driver.available({config: providers[provider] ?? {}, env})
  } catch (error) {
    availability = {hint: `could not check it (${(error as Error).message})`, ok: false}
  }

  if (availability.ok) return provider
  // The drivers word a missing setting "set X ..." and a missing tool "<tool> not found ...; install ...".
  const setting = /^set /i.test(availability.hint)
  throw new TunnelFailed(
    provider,
    setting ? 'not-configured' : 'binary-missing',
    `--provider ${provider} cannot start: ${availability.hint}.`,
    `${setting ? 'Add that setting' : 'Install it'}, or pick another --provider (--provider local needs nothing).`,
    [],
    setting ? 'bad-input' : 'runtime',
  )
}

/** How long `--attach` waits for the port to accept a connection. */
const ATTACH_PROBE_MS = 1000

/** Parses `--attach PORT` and checks that something listens on 127.0.0.1:PORT (exit 2 when not). */
export async function checkAttachPort(text: string): Promise<number> {
  const port = Number(text)
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidInput(`--attach ${text} is not a port number.`, 'Pass the port your server listens on, e.g. --attach 3000.')
  }

  const open = await tcpProbe(port, '127.0.0.1', ATTACH_PROBE_MS)
  if (!open) {
    throw new InvalidInput(
      `Nothing listens on 127.0.0.1:${port}, so there is nothing to attach to.`,
      'Start your server first (bound to 127.0.0.1), or check the port with `ss -ltn`.',
    )
  }

  return port
}
