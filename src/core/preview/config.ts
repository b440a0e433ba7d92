// .sdd/preview.yaml: optional project settings (command, install, provider, auth, expire, ...).
import {existsSync, readFileSync} from 'node:fs'
import {isIP} from 'node:net'
import {createRequire} from 'node:module'
import {InvalidInput} from '../errors.js'
import {parseDuration} from './duration.js'
import type {ProviderConfig} from '../tunnels/types.js'
import type {SddPaths} from '../records/paths.js'

export interface PreviewConfig {
  command?: string
  install?: string
  provider?: string
  auth?: string
  expire?: string
  max_expire?: string
  idle_ttl?: string
  ready_timeout?: string
  max_restarts?: number
  host_header?: string
  /** `gateway.bind`: the address the gateways listen on (default 127.0.0.1), so an edge on another host can reach them. */
  gateway?: {bind?: string; idle_timeout?: string}
  /** Untracked files to copy into a worktree (default: the .env files that exist). */
  copy?: string[]
  /** `package-manager`: run package.json scripts through npm/pnpm/yarn/bun instead of directly (default: direct where safe). */
  script_runner?: string
  providers: Record<string, ProviderConfig>
}

// yaml is required lazily: only start reads the config, and list/status should not pay for the parser.
const require = createRequire(import.meta.url)

export function loadConfig(paths: SddPaths): PreviewConfig {
  if (!existsSync(paths.config)) return {providers: {}}
  let doc: unknown
  try {
    doc = (require('yaml') as typeof import('yaml')).parse(readFileSync(paths.config, 'utf8'))
  } catch (error) {
    throw new InvalidInput(
      `${paths.config} is not valid YAML: ${(error as Error).message}`,
      'Fix the file (see .sdd.example/preview.yaml).',
    )
  }

  if (doc === null || doc === undefined) return {providers: {}}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InvalidInput(`${paths.config} must be a mapping of settings.`, 'See .sdd.example/preview.yaml for the format.')
  }

  const raw = doc as Record<string, unknown>
  const providers = (raw.providers && typeof raw.providers === 'object' ? raw.providers : {}) as Record<string, ProviderConfig>
  const str = (k: string) => (raw[k] === undefined || raw[k] === null ? undefined : String(raw[k]))
  const config: PreviewConfig = {providers}
  for (const k of [
    'command',
    'install',
    'provider',
    'auth',
    'expire',
    'max_expire',
    'idle_ttl',
    'ready_timeout',
    'host_header',
    'script_runner',
  ] as const) {
    const v = str(k)
    if (v !== undefined) config[k] = v
  }

  if (raw.copy !== undefined && raw.copy !== null) {
    const list = typeof raw.copy === 'string' ? [raw.copy] : raw.copy
    if (!Array.isArray(list) || !list.every((e) => typeof e === 'string')) {
      throw new InvalidInput(
        `copy in ${paths.config} must be a list of paths.`,
        'Write it as `copy: [.env, .env.local]` (paths relative to the repository root).',
      )
    }

    config.copy = list
  }

  if (raw.max_restarts !== undefined) {
    const n = Number(raw.max_restarts)
    if (!Number.isInteger(n) || n < 0) throw new InvalidInput(`max_restarts in ${paths.config} must be a whole number >= 0.`)
    config.max_restarts = n
  }

  const gateway = raw.gateway
  if (gateway !== undefined && gateway !== null) {
    if (typeof gateway !== 'object' || Array.isArray(gateway))
      throw new InvalidInput(`gateway in ${paths.config} must be a mapping (gateway: {bind: 127.0.0.1}).`)
    const bind = (gateway as Record<string, unknown>).bind
    if (bind !== undefined && bind !== null) {
      // An IP literal only: a name could resolve to several addresses, and the edge must dial the one we listen on.
      if (typeof bind !== 'string' || isIP(bind) === 0) {
        throw new InvalidInput(
          `gateway.bind in ${paths.config} must be an IP address (got "${String(bind)}").`,
          'Use 127.0.0.1 (this machine only), a private address the edge can reach, or 0.0.0.0 for every interface.',
        )
      }

      config.gateway = {bind}
    }

    const idle = (gateway as Record<string, unknown>).idle_timeout
    if (idle !== undefined && idle !== null) {
      // Checked here so a bad value fails `preview start` (exit 2) instead of a supervisor.
      parseDuration(String(idle), `gateway.idle_timeout in ${paths.config}`)
      config.gateway = {...config.gateway, idle_timeout: String(idle)}
    }
  }

  if (config.script_runner !== undefined && config.script_runner !== 'direct' && config.script_runner !== 'package-manager') {
    throw new InvalidInput(
      `script_runner in ${paths.config} must be direct or package-manager (got "${config.script_runner}").`,
      'Leave it out (direct where safe), or set script_runner: package-manager.',
    )
  }

  return config
}
