// cloudflared: quick tunnels (trycloudflare.com) or named tunnels from a token; the binary, run directly.
import {InvalidInput, TunnelFailed} from '../../errors.js'
import type {TunnelDriver} from '../types.js'
import {findBinary, openProcessTunnel, packageFile, type BinaryLookup} from '../util.js'

/** How long cloudflared gets to print its URL and register a connection. Tests pass opts.timeoutMs. */
export const CLOUDFLARED_START_TIMEOUT_MS = 30_000

export const CLOUDFLARED_INSTALL_HINT =
  'install cloudflared (https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/, `brew install cloudflared`) or set CLOUDFLARED_BIN'

export interface CloudflaredState {
  /** The quick-tunnel URL from the banner box, once seen. */
  url: string | null
  /** True once cloudflared says a connection to the edge is registered (traffic can flow). */
  registered: boolean
  error: {reason: 'rate-limited' | 'error'; message: string} | null
}

export const initialCloudflaredState = (): CloudflaredState => ({error: null, registered: false, url: null})

// cloudflared prefixes every log line with a timestamp and a level.
const PREFIX = /^\d{4}-\d\d-\d\dT\S+\s+(?:INF|WRN|ERR|DBG|FTL)\s+/
const QUICK_URL = /https:\/\/([a-z0-9-]+)\.trycloudflare\.com\b/gi

/**
 * Folds one line of cloudflared output into the state. The URL is the trycloudflare one (the banner
 * also sits among docs and terms links; api.trycloudflare.com appears in failures); ready needs a
 * registered connection; 429 / error 1015 and quick-tunnel request failures are named.
 */
export function parseCloudflaredLine(state: CloudflaredState, raw: string): CloudflaredState {
  const line = raw.replace(PREFIX, '')
  const next = {...state}
  if (!next.url) {
    for (const m of line.matchAll(QUICK_URL)) {
      if (m[1]?.toLowerCase() === 'api') continue
      next.url = m[0].toLowerCase()
      break
    }
  }

  if (/Registered tunnel connection|Connection [0-9a-f-]{36} registered/i.test(line)) next.registered = true
  if (!next.error) {
    if (/429 Too Many Requests|error code:? 1015|rate.?limit/i.test(line)) {
      next.error = {
        message: 'Cloudflare is rate-limiting quick tunnels from this address (429 Too Many Requests, error 1015).',
        reason: 'rate-limited',
      }
    } else if (
      /^failed to (?:request|unmarshal|parse|create) quick Tunnel/i.test(line) ||
      /^(?:ERR|FTL)?\s*Provided Tunnel token is not valid/i.test(line)
    ) {
      next.error = {message: `cloudflared: ${line.trim()}`, reason: 'error'}
    } else if (/Couldn't start tunnel|tunnel credentials file .* doesn't exist|Unauthorized: Invalid tunnel secret/i.test(line)) {
      next.error = {message: `cloudflared: ${line.trim()}`, reason: 'error'}
    }
  }

  return next
}

/** Runs the parser over a whole transcript (tests, logs). */
export function scanCloudflared(lines: string[]): CloudflaredState {
  return lines.reduce(parseCloudflaredLine, initialCloudflaredState())
}

function lookup(env: NodeJS.ProcessEnv): BinaryLookup {
  const pkg = packageFile('cloudflared', 'bin/cloudflared')
  return findBinary('cloudflared', 'CLOUDFLARED_BIN', env, CLOUDFLARED_INSTALL_HINT, pkg ? [pkg] : [])
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined
}

/** The argv for a quick or named tunnel (pure, for tests). The token never goes on argv: TUNNEL_TOKEN. */
export function cloudflaredArgs(
  localUrl: string,
  config: Record<string, unknown>,
): {args: string[]; named: boolean; hostname: string | null} {
  const token = str(config.token)
  const hostname =
    str(config.hostname)
      ?.replace(/^https?:\/\//, '')
      .replace(/\/.*$/, '') ?? null
  const protocol = str(config.protocol)
  if (protocol && !['auto', 'http2', 'quic'].includes(protocol)) {
    throw new InvalidInput(`providers.cloudflared.protocol must be auto, http2 or quic (got "${protocol}").`)
  }

  const extra = protocol ? ['--protocol', protocol] : []
  if (token) {
    if (!hostname) {
      throw new InvalidInput(
        'providers.cloudflared.token is set but providers.cloudflared.hostname is not.',
        'Set providers.cloudflared.hostname to the public hostname routed to that tunnel.',
      )
    }

    return {args: ['tunnel', '--no-autoupdate', ...extra, 'run', '--url', localUrl], hostname, named: true}
  }

  return {args: ['tunnel', '--url', localUrl, '--no-autoupdate', ...extra], hostname: null, named: false}
}

export const cloudflaredDriver: TunnelDriver = {
  name: 'cloudflared',
  async available({env}) {
    const found = lookup(env)
    return found.ok ? {detail: found.path, ok: true} : {hint: found.hint, ok: false}
  },
  async open(opts) {
    const found = lookup(opts.env)
    if (!found.ok) {
      throw new TunnelFailed('cloudflared', 'binary-missing', 'cloudflared is not installed.', found.hint)
    }

    const {args, hostname, named} = cloudflaredArgs(opts.localUrl, opts.config)
    const env: NodeJS.ProcessEnv = {...opts.env}
    if (named) env.TUNNEL_TOKEN = str(opts.config.token)
    let state = initialCloudflaredState()
    return openProcessTunnel({
      args,
      describeFailure(kind, _lines, how) {
        if (state.error) return {message: state.error.message}
        if (kind === 'timeout') {
          return state.url
            ? {
                message: `cloudflared printed ${state.url} but registered no connection to Cloudflare's edge within the start-up timeout.`,
                hint: 'Check that outbound port 7844 (UDP/TCP) is open, or try providers.cloudflared.protocol: http2.',
              }
            : {message: 'cloudflared printed no quick-tunnel URL within the start-up timeout.'}
        }

        return {message: `cloudflared exited (${how}) before the tunnel was ready.`}
      },
      env,
      file: found.path,
      hint: 'Retry in a few minutes, use a named tunnel (providers.cloudflared.token + hostname), or pick another --provider.',
      log: opts.log,
      onLine(line) {
        state = parseCloudflaredLine(state, line)
        if (state.error) {
          return {
            hint:
              state.error.reason === 'rate-limited'
                ? 'Wait a few minutes before the next quick tunnel, use a named tunnel (providers.cloudflared.token + hostname), or pick another --provider.'
                : undefined,
            kind: 'fail',
            message: state.error.message,
            reason: state.error.reason,
          }
        }

        if (!state.registered) return null
        if (named) return {kind: 'ready', name: hostname, url: `https://${hostname}`}
        if (state.url) return {kind: 'ready', name: new URL(state.url).hostname.split('.')[0] ?? null, url: state.url}
        return null
      },
      provider: 'cloudflared',
      signal: opts.signal,
      timeoutMs: opts.timeoutMs ?? CLOUDFLARED_START_TIMEOUT_MS,
    })
  },
}
