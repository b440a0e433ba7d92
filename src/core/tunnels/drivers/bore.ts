// bore: a plain TCP tunnel to bore.pub or a self-hosted bore server; the URL is http://HOST:PORT.
import {InvalidInput, TunnelFailed} from '../../errors.js'
import type {TunnelDriver} from '../types.js'
import {findBinary, openProcessTunnel} from '../util.js'

/** How long bore gets to say `listening at`. Tests pass opts.timeoutMs. */
export const BORE_START_TIMEOUT_MS = 20_000
export const BORE_DEFAULT_SERVER = 'bore.pub'
export const BORE_INSTALL_HINT =
  'install bore (`cargo install bore-cli`, `brew install bore-cli`, or a release from https://github.com/ekzhang/bore/releases) or set BORE_BIN'

export interface BoreState {
  url: string | null
  remotePort: number | null
  /** `Error: ...` plus its `Caused by:` lines, as bore prints them before exiting. */
  error: string | null
  inCause: boolean
}

export const initialBoreState = (): BoreState => ({error: null, inCause: false, remotePort: null, url: null})

// tracing-subscriber prefix: timestamp, level, target.
const PREFIX = /^\S+Z\s+(?:TRACE|DEBUG|INFO|WARN|ERROR)\s+\S+:\s+/

/** Folds one line of bore output into the state: `listening at HOST:PORT` gives http://HOST:PORT. */
export function parseBoreLine(state: BoreState, raw: string): BoreState {
  const line = raw.replace(PREFIX, '')
  const next = {...state}
  const listening = /listening at (\[[^\]]+]|[^\s:]+):(\d+)/.exec(line)
  if (listening && !next.url) next.url = `http://${listening[1]}:${listening[2]}`
  const remote = /connected to server remote_port=(\d+)/.exec(line)
  if (remote) next.remotePort = Number(remote[1])
  const err = /^Error: (.*)$/.exec(line)
  if (err) {
    next.error = err[1] ?? 'unknown error'
    next.inCause = false
  } else if (next.error && /^Caused by:/.test(line)) {
    next.inCause = true
  } else if (next.error && next.inCause && line.trim() !== '') {
    next.error = `${next.error}: ${line.trim().replace(/^\d+:\s*/, '')}`
  }

  return next
}

/** Runs the parser over a whole transcript (tests). */
export function scanBore(lines: string[]): BoreState {
  return lines.reduce(parseBoreLine, initialBoreState())
}

/** The argv for `bore local` (pure, for tests). The secret goes in BORE_SECRET, never on argv. */
export function boreArgs(gatewayPort: number, config: Record<string, unknown>): {args: string[]; server: string; secret: string | null} {
  const server = typeof config.server === 'string' && config.server.trim() !== '' ? config.server.trim() : BORE_DEFAULT_SERVER
  if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:]+]$/.test(server)) {
    throw new InvalidInput(
      `providers.bore.server must be a host name without scheme or port (got "${server}").`,
      'bore always uses control port 7835; e.g. server: bore.example.com',
    )
  }

  const args = ['local', String(gatewayPort), '--local-host', '127.0.0.1', '--to', server]
  if (config.port !== undefined && config.port !== null) {
    const port = Number(config.port)
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw new InvalidInput(`providers.bore.port must be a port number (got "${String(config.port)}").`)
    args.push('--port', String(port))
  }

  const secret = typeof config.secret === 'string' && config.secret !== '' ? config.secret : null
  return {args, secret, server}
}

export const boreDriver: TunnelDriver = {
  name: 'bore',
  async available({env}) {
    const found = findBinary('bore', 'BORE_BIN', env, BORE_INSTALL_HINT)
    return found.ok ? {detail: found.path, ok: true} : {hint: found.hint, ok: false}
  },
  async open(opts) {
    const found = findBinary('bore', 'BORE_BIN', opts.env, BORE_INSTALL_HINT)
    if (!found.ok) throw new TunnelFailed('bore', 'binary-missing', 'bore is not installed.', found.hint)
    const {args, secret, server} = boreArgs(opts.gatewayPort, opts.config)
    const env: NodeJS.ProcessEnv = {...opts.env}
    if (secret) env.BORE_SECRET = secret
    let state = initialBoreState()
    return openProcessTunnel({
      args,
      describeFailure(kind, _lines, how) {
        if (state.error) return {message: `bore: ${state.error}`}
        return kind === 'timeout'
          ? {message: `bore did not report a listening port on ${server} within the start-up timeout.`}
          : {message: `bore exited (${how}) before listening on ${server}.`}
      },
      env,
      file: found.path,
      hint: `Check that ${server}:7835 is reachable (and providers.bore.secret if the server needs one), or pick another --provider.`,
      log: opts.log,
      onLine(line) {
        state = parseBoreLine(state, line)
        if (state.url) return {kind: 'ready', name: state.remotePort === null ? null : String(state.remotePort), url: state.url}
        return null
      },
      provider: 'bore',
      signal: opts.signal,
      timeoutMs: opts.timeoutMs ?? BORE_START_TIMEOUT_MS,
    })
  },
}
