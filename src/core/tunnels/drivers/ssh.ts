// ssh: a reverse forward (-R) to any OpenSSH server or ssh tunnel service (localhost.run, sish, pinggy).
import {InvalidInput, TunnelFailed} from '../../errors.js'
import type {TunnelDriver} from '../types.js'
import {findBinary, openProcessTunnel, type Verdict} from '../util.js'

/** How long ssh gets to connect, authenticate and set up the forward. Tests pass opts.timeoutMs. */
export const SSH_START_TIMEOUT_MS = 20_000
/**
 * After the forward is up (or an http:// URL is seen), how long to wait for a better URL from the server
 * (sish prints HTTP then HTTPS; services print after the forward) before using what we have.
 */
export const SSH_URL_SETTLE_MS = 1500
export const SSH_DEFAULT_TEMPLATE = 'http://{host}:{port}'
export const SSH_INSTALL_HINT = 'install an OpenSSH client (`apt install openssh-client`) or set SSH_BIN'

export interface SshState {
  url: string | null
  /** An https URL from a phrase we know (or a bare https line): nothing better will come. */
  urlFinal: boolean
  allocatedPort: number | null
  authenticated: boolean
  /** Inside a ===== framed banner (localhost.run), whose links are docs, not the tunnel. */
  inBanner: boolean
  error: string | null
}

export const initialSshState = (): SshState => ({
  allocatedPort: null,
  authenticated: false,
  error: null,
  inBanner: false,
  url: null,
  urlFinal: false,
})

const ERROR_LINE =
  /Permission denied|Connection refused|Could not resolve hostname|No route to host|Connection timed out|Operation timed out|Network is unreachable|Host key verification failed|remote port forwarding failed|Connection closed by|Bad configuration option|Too many authentication failures|kex_exchange_identification/i

function setUrl(next: SshState, url: string, final: boolean): void {
  const clean = url.replace(/[.,;)\]]+$/, '')
  if (next.urlFinal) return
  if (final || !next.url) {
    next.url = clean
    next.urlFinal = final
  }
}

/**
 * Folds one line of ssh output (client stderr and whatever the server prints) into the state. The URL is
 * the first tunnel URL the server prints (https preferred); banner links are skipped; `Allocated port N`
 * gives the port for url_template.
 */
export function parseSshLine(state: SshState, line: string): SshState {
  const next = {...state}
  const text = line.trim()
  if (/^={10,}$/.test(text)) {
    next.inBanner = !next.inBanner
    return next
  }

  const allocated = /^Allocated port (\d+) for remote forward to/.exec(text)
  if (allocated) next.allocatedPort = Number(allocated[1])
  if (/^Authenticated to /.test(text)) next.authenticated = true
  if (!next.error && ERROR_LINE.test(text)) next.error = text.replace(/^ssh:\s*/, '')
  if (next.inBanner) return next
  const lhr = /tunneled with tls termination, (https:\/\/\S+)/.exec(text)
  if (lhr?.[1]) setUrl(next, lhr[1], true)
  const sish = /^(HTTPS?):\s*(https?:\/\/\S+)$/.exec(text)
  if (sish?.[2]) setUrl(next, sish[2], sish[2].startsWith('https://'))
  const bare = /^(https?:\/\/[^\s\]"'<>]+)$/.exec(text)
  if (bare?.[1]) setUrl(next, bare[1], bare[1].startsWith('https://'))
  return next
}

/** Runs the parser over a whole transcript (tests). */
export function scanSsh(lines: string[]): SshState {
  return lines.reduce(parseSshLine, initialSshState())
}

export interface SshSettings {
  destination: string
  host: string
  port: number | null
  identityFile: string | null
  remotePort: number
  remoteBind: string | null
  options: string[]
  urlTemplate: string
  session: boolean
}

/** Validates providers.ssh (destination, port, identity_file, remote_port, ssh_options, url_template, session). */
export function sshSettings(config: Record<string, unknown>): SshSettings {
  const destination = typeof config.destination === 'string' ? config.destination.trim() : ''
  if (!destination)
    throw new InvalidInput('providers.ssh.destination is not set.', 'Set providers.ssh.destination (user@host) in .sdd/preview.yaml.')
  // Nothing that ssh could read as an option, and nothing a shell would treat specially if logged and reused.
  if (destination.startsWith('-') || /\s/.test(destination))
    throw new InvalidInput(`providers.ssh.destination "${destination}" is not a user@host.`)
  const hostPart = destination.includes('@') ? destination.slice(destination.lastIndexOf('@') + 1) : destination
  const host = hostPart.replace(/^\[(.*)]$/, '$1')
  const num = (key: string, min: number): number | null => {
    if (config[key] === undefined || config[key] === null) return null
    const n = Number(config[key])
    if (!Number.isInteger(n) || n < min || n > 65_535)
      throw new InvalidInput(`providers.ssh.${key} must be a port number (got "${String(config[key])}").`)
    return n
  }

  const rawOptions = config.ssh_options ?? []
  if (!Array.isArray(rawOptions)) throw new InvalidInput('providers.ssh.ssh_options must be a list of Key=Value strings.')
  const options = rawOptions.map((o) => String(o).trim())
  for (const o of options) {
    if (!/^[A-Za-z][A-Za-z0-9]*=\S.*$/.test(o))
      throw new InvalidInput(
        `providers.ssh.ssh_options entry "${o}" is not Key=Value.`,
        'For example: ssh_options: ["StrictHostKeyChecking=yes"]',
      )
  }

  const urlTemplate = typeof config.url_template === 'string' && config.url_template !== '' ? config.url_template : SSH_DEFAULT_TEMPLATE
  if (!urlTemplate.includes('{port}') && !urlTemplate.includes('{host}')) {
    throw new InvalidInput(`providers.ssh.url_template "${urlTemplate}" uses neither {host} nor {port}.`)
  }

  const remoteBind = typeof config.remote_bind === 'string' && config.remote_bind !== '' ? config.remote_bind : null
  if (remoteBind && !/^[A-Za-z0-9.*-]+$/.test(remoteBind))
    throw new InvalidInput(`providers.ssh.remote_bind "${remoteBind}" is not a host or subdomain name.`)
  return {
    destination,
    host,
    identityFile: typeof config.identity_file === 'string' && config.identity_file !== '' ? config.identity_file : null,
    options,
    port: num('port', 1),
    remoteBind,
    remotePort: num('remote_port', 0) ?? 0,
    session: config.session === true,
    urlTemplate,
  }
}

/** The ssh argv (pure, for tests). Our must-haves come first because ssh keeps the first value of an option. */
export function sshArgs(s: SshSettings, gatewayPort: number): string[] {
  const forward = `${s.remoteBind ? `${s.remoteBind}:` : ''}${s.remotePort}:127.0.0.1:${gatewayPort}`
  const args = [...(s.session ? [] : ['-N']), '-T', '-R', forward, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes']
  // A fixed remote port prints no "Allocated port": VERBOSE gives "Authenticated to" as the signal.
  if (s.remotePort !== 0) args.push('-o', 'LogLevel=VERBOSE')
  for (const o of s.options) args.push('-o', o)
  args.push('-o', 'ServerAliveInterval=30', '-o', 'ServerAliveCountMax=3', '-o', 'StrictHostKeyChecking=accept-new')
  if (s.port !== null) args.push('-p', String(s.port))
  if (s.identityFile) args.push('-i', s.identityFile)
  args.push('--', s.destination)
  return args
}

/** Fills url_template with the destination's host and the remote port. */
export function sshTemplateUrl(template: string, host: string, port: number): string {
  const h = host.includes(':') ? `[${host}]` : host
  return template.replaceAll('{host}', h).replaceAll('{port}', String(port))
}

export const sshDriver: TunnelDriver = {
  name: 'ssh',
  async available({config, env}) {
    const found = findBinary('ssh', 'SSH_BIN', env, SSH_INSTALL_HINT)
    if (!found.ok) return {hint: found.hint, ok: false}
    if (typeof config.destination !== 'string' || config.destination === '') {
      return {hint: 'set providers.ssh.destination (user@host) in .sdd/preview.yaml', ok: false}
    }

    return {detail: found.path, ok: true}
  },
  async open(opts) {
    const found = findBinary('ssh', 'SSH_BIN', opts.env, SSH_INSTALL_HINT)
    if (!found.ok) throw new TunnelFailed('ssh', 'binary-missing', 'ssh is not installed.', found.hint)
    const settings = sshSettings(opts.config)
    let state = initialSshState()
    const templ = (port: number) => sshTemplateUrl(settings.urlTemplate, settings.host, port)
    return openProcessTunnel({
      args: sshArgs(settings, opts.gatewayPort),
      describeFailure(kind, _lines, how) {
        if (state.error) return {message: `ssh to ${settings.destination} failed: ${state.error}`}
        return kind === 'timeout'
          ? {message: `ssh to ${settings.destination} set up no forward within the start-up timeout.`}
          : {message: `ssh to ${settings.destination} exited (${how}) before the forward was up.`}
      },
      env: opts.env,
      file: found.path,
      hint: 'Check that `ssh` to the destination works non-interactively (key in providers.ssh.identity_file, known host key) and that the server allows remote forwarding.',
      keepStdin: settings.session,
      log: opts.log,
      onLine(line): Verdict {
        state = parseSshLine(state, line)
        if (state.error) return {kind: 'fail', message: `ssh to ${settings.destination} failed: ${state.error}`, reason: 'error'}
        const name =
          state.allocatedPort === null ? (settings.remotePort === 0 ? null : String(settings.remotePort)) : String(state.allocatedPort)
        if (state.url && state.urlFinal) return {kind: 'ready', name: new URL(state.url).hostname, url: state.url}
        if (state.url) return {kind: 'provisional', name: new URL(state.url).hostname, settleMs: SSH_URL_SETTLE_MS, url: state.url}
        if (state.allocatedPort !== null) {
          // Without a session (-N) the server has no channel to print a URL on: the port is all there is.
          if (!settings.session) return {kind: 'ready', name, url: templ(state.allocatedPort)}
          return {kind: 'provisional', name, settleMs: SSH_URL_SETTLE_MS, url: templ(state.allocatedPort)}
        }

        if (settings.remotePort !== 0 && state.authenticated) {
          // ExitOnForwardFailure makes ssh exit within the settle time if the server refuses the port.
          return {kind: 'provisional', name, settleMs: SSH_URL_SETTLE_MS, url: templ(settings.remotePort)}
        }

        return null
      },
      provider: 'ssh',
      signal: opts.signal,
      timeoutMs: opts.timeoutMs ?? SSH_START_TIMEOUT_MS,
    })
  },
}
