// tailscale: Funnel (client 1.52+ syntax) in the foreground; the URL is the node's https://*.ts.net name.
import {InvalidInput, TunnelFailed} from '../../errors.js'
import {run} from '../../process.js'
import type {TunnelDriver} from '../types.js'
import {findBinary, openProcessTunnel} from '../util.js'

/** How long `tailscale funnel` gets to print its URL. Tests pass opts.timeoutMs. */
export const TAILSCALE_START_TIMEOUT_MS = 20_000
/** Bound on the short `tailscale version/status/funnel off` calls. */
export const TAILSCALE_CLI_TIMEOUT_MS = 5000
export const TAILSCALE_MIN_VERSION = [1, 52] as const
export const TAILSCALE_INSTALL_HINT =
  'install Tailscale 1.52+ (https://tailscale.com/download), run `tailscale up`, and enable Funnel for the tailnet; or set TAILSCALE_BIN'

export interface TailscaleState {
  /** Saw "Available on the internet:" (Funnel, not tailnet-only Serve). */
  funnel: boolean
  url: string | null
  error: {reason: 'not-configured' | 'error'; message: string} | null
  /** Collecting the "To enable, visit:" URL after "Funnel is not enabled". */
  awaitingEnableUrl: boolean
}

export const initialTailscaleState = (): TailscaleState => ({awaitingEnableUrl: false, error: null, funnel: false, url: null})

/** Folds one line of `tailscale funnel` output into the state. */
export function parseTailscaleLine(state: TailscaleState, line: string): TailscaleState {
  const next = {...state}
  const text = line.trim()
  if (/^Available on the internet:/.test(text)) next.funnel = true
  if (/^Available within your tailnet:/.test(text) && !next.error) {
    next.error = {
      message: 'tailscale is serving only within the tailnet, not on the internet (Funnel is off for this node).',
      reason: 'not-configured',
    }
  }

  const url = /^(https:\/\/[A-Za-z0-9.-]+\.ts\.net(?::\d+)?)\/?(?:\s|$)/.exec(text)
  if (url && next.funnel && !next.url) next.url = url[1] ?? null
  if (/^Funnel is not enabled on your tailnet/i.test(text)) {
    next.error = {message: 'Funnel is not enabled on your tailnet.', reason: 'not-configured'}
    next.awaitingEnableUrl = true
  } else if (next.awaitingEnableUrl && /^https:\/\//.test(text)) {
    next.error = {message: `Funnel is not enabled on your tailnet; an admin can enable it at ${text}`, reason: 'not-configured'}
    next.awaitingEnableUrl = false
  } else if (!next.error && /^(?:error|Error):?\s/.test(text)) {
    next.error = {message: `tailscale: ${text}`, reason: 'error'}
  } else if (!next.error && /already exists|not running|NeedsLogin|Logged out|the CLI for serve and funnel has changed/i.test(text)) {
    next.error = {message: `tailscale: ${text}`, reason: 'error'}
  }

  return next
}

/** Runs the parser over a whole transcript (tests). */
export function scanTailscale(lines: string[]): TailscaleState {
  return lines.reduce(parseTailscaleLine, initialTailscaleState())
}

/** Parses `tailscale version` output; null when it is not a version. */
export function parseTailscaleVersion(text: string): [number, number, number] | null {
  const m = /^\s*(\d+)\.(\d+)\.(\d+)/.exec(text)
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null
}

function httpsPort(config: Record<string, unknown>): number {
  if (config.https_port === undefined || config.https_port === null) return 443
  const port = Number(config.https_port)
  if (![443, 8443, 10_000].includes(port)) {
    throw new InvalidInput(
      `providers.tailscale.https_port must be 443, 8443 or 10000 (got "${String(config.https_port)}").`,
      'Funnel only listens on those ports.',
    )
  }

  return port
}

/** The argv for a foreground funnel to the gateway (pure, for tests). */
export function tailscaleArgs(localUrl: string, config: Record<string, unknown>): string[] {
  return ['funnel', `--https=${httpsPort(config)}`, localUrl]
}

export const tailscaleDriver: TunnelDriver = {
  name: 'tailscale',
  async available({env}) {
    const found = findBinary('tailscale', 'TAILSCALE_BIN', env, TAILSCALE_INSTALL_HINT)
    if (!found.ok) return {hint: found.hint, ok: false}
    const version = await run(found.path, ['version'], {cwd: process.cwd(), env, timeoutMs: TAILSCALE_CLI_TIMEOUT_MS})
    const v = parseTailscaleVersion(version.stdout)
    if (!v)
      return {
        hint: `\`tailscale version\` failed (${(version.stderr || version.stdout).split('\n')[0] ?? ''}); is tailscaled running?`,
        ok: false,
      }
    const [major, minor] = TAILSCALE_MIN_VERSION
    if (v[0] < major || (v[0] === major && v[1] < minor)) {
      return {
        hint: `tailscale ${v.join('.')} is too old: Funnel needs the 1.52+ CLI; upgrade from https://tailscale.com/download`,
        ok: false,
      }
    }

    const status = await run(found.path, ['status', '--json'], {cwd: process.cwd(), env, timeoutMs: TAILSCALE_CLI_TIMEOUT_MS})
    let backend: string
    try {
      backend = String((JSON.parse(status.stdout) as {BackendState?: unknown}).BackendState ?? '')
    } catch {
      backend = ''
    }

    if (backend !== 'Running')
      return {hint: `tailscale is not logged in and running (state: ${backend || 'unknown'}); run \`tailscale up\``, ok: false}
    return {detail: found.path, ok: true}
  },
  async open(opts) {
    const found = findBinary('tailscale', 'TAILSCALE_BIN', opts.env, TAILSCALE_INSTALL_HINT)
    if (!found.ok) throw new TunnelFailed('tailscale', 'binary-missing', 'tailscale is not installed.', found.hint)
    const port = httpsPort(opts.config)
    const args = tailscaleArgs(opts.localUrl, opts.config)
    let state = initialTailscaleState()
    const cli = (argv: string[]) => run(found.path, argv, {cwd: process.cwd(), env: opts.env, timeoutMs: TAILSCALE_CLI_TIMEOUT_MS})
    return openProcessTunnel({
      // A foreground funnel ends with its CLI session; if tailscaled still lists our target afterwards
      // (an old daemon, a crash mid-way), turn that port off. Only when it points at our gateway: the
      // user's own background config on the port is not ours to remove.
      async afterClose() {
        const status = await cli(['funnel', 'status', '--json'])
        if (status.stdout.includes(opts.localUrl)) {
          const off = await cli(['funnel', `--https=${port}`, 'off'])
          if (off.exitCode !== 0) opts.log?.(`[tailscale] funnel off: ${off.stderr || off.stdout}`)
        }
      },
      args,
      describeFailure(kind, _lines, how) {
        if (state.error) return {message: state.error.message}
        return kind === 'timeout'
          ? {message: 'tailscale funnel printed no https://*.ts.net URL within the start-up timeout.'}
          : {message: `tailscale funnel exited (${how}) before printing its URL.`}
      },
      env: opts.env,
      file: found.path,
      hint: 'Check `tailscale status` and that Funnel is enabled for this node (https://tailscale.com/kb/1223/funnel), or pick another --provider.',
      log: opts.log,
      onLine(line) {
        state = parseTailscaleLine(state, line)
        // "not enabled" is followed by the admin URL a line or two later; wait for it, bounded by the timeout.
        if (state.error && !state.awaitingEnableUrl) return {kind: 'fail', message: state.error.message, reason: state.error.reason}
        if (state.url) return {kind: 'ready', name: new URL(state.url).hostname, url: state.url}
        return null
      },
      provider: 'tailscale',
      signal: opts.signal,
      timeoutMs: opts.timeoutMs ?? TAILSCALE_START_TIMEOUT_MS,
    })
  },
}
