// Settings of `preview serve`: flags, else the `serve:` section of --config FILE or of .sdd/preview.yaml, else
// defaults. Flags win; every value is checked here so a bad one fails before anything starts (exit 2).
import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {InvalidInput} from '../errors.js'
import {parseDuration} from '../preview/duration.js'
import type {HostOptions} from './host.js'
import {isDnsLabel} from './names.js'
import {isGitUrl, parseRepoArg, readPersisted, type RepoSpec} from './repos.js'

export const SERVE_DEFAULTS = {bind: '127.0.0.1', domain: 'localhost', idleTtl: '5m', maxRestarts: 3, port: 8000, readyTimeout: '30s'}

/** What the command passes: flag values as given (undefined when absent). */
export interface ServeFlags {
  repos: string[]
  port?: number | undefined
  bind?: string | undefined
  domain?: string | undefined
  secret?: string | undefined
  basicAuth?: string | undefined
  adminSecret?: string | undefined
  idleTtl?: string | undefined
  autoPull?: string | undefined
  readyTimeout?: string | undefined
  config?: string | undefined
  jsonLogs?: string | undefined
  persistRepos?: string | undefined
  publicScheme?: string | undefined
  auth?: string | undefined
}

const require = createRequire(import.meta.url)

/** The `serve:` mapping of a YAML file (a file that is only that mapping is taken as is with --config). */
export function readServeSection(file: string, required: boolean): Record<string, unknown> {
  if (!existsSync(file)) {
    if (required) throw new InvalidInput(`--config ${file} does not exist.`, 'Pass the path of a YAML file with a `serve:` section.')
    return {}
  }

  let doc: unknown
  try {
    doc = (require('yaml') as typeof import('yaml')).parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new InvalidInput(`${file} is not valid YAML: ${(error as Error).message}`, 'Fix the file (see .sdd.example/preview.yaml).')
  }

  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidInput(`${file} must be a mapping of settings.`)
  const raw = doc as Record<string, unknown>
  const serve = raw.serve ?? (required ? raw : undefined)
  if (serve === undefined || serve === null) return {}
  if (typeof serve !== 'object' || Array.isArray(serve)) throw new InvalidInput(`\`serve:\` in ${file} must be a mapping.`)
  return serve as Record<string, unknown>
}

function repoFromConfig(item: unknown, file: string): RepoSpec {
  if (typeof item === 'string') return parseRepoArg(item)
  if (item && typeof item === 'object' && typeof (item as {path?: unknown}).path === 'string') {
    const {label, path: p} = item as {label?: unknown; path: string}
    return parseRepoArg(typeof label === 'string' ? `${label}=${p}` : p)
  }

  throw new InvalidInput(`serve.repos in ${file}: each entry is "LABEL=PATH" or {label, path}.`)
}

/** Flags over config over defaults, checked; relative paths in a config file are relative to that file. */
export function resolveServeOptions(flags: ServeFlags, opts: {cwd: string; sddConfig: string | null; env: NodeJS.ProcessEnv}): HostOptions {
  const file = flags.config ? path.resolve(opts.cwd, flags.config) : opts.sddConfig
  const section = file ? readServeSection(file, Boolean(flags.config)) : {}
  const base = file ? path.dirname(file) : opts.cwd
  const str = (k: string): string | undefined => (section[k] === undefined || section[k] === null ? undefined : String(section[k]))
  const pick = <T>(flag: T | undefined, key: string, conv: (s: string) => T): T | undefined =>
    flag === undefined ? (str(key) === undefined ? undefined : conv(str(key)!)) : flag

  const port = pick(flags.port, 'port', Number) ?? SERVE_DEFAULTS.port
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new InvalidInput(`The port ${port} is not a TCP port.`, 'Pass --port 0-65535 (0 picks a free one).')
  const domain = (pick(flags.domain, 'domain', String) ?? SERVE_DEFAULTS.domain).toLowerCase().replace(/\.$/, '')
  if (!domain.split('.').every((l) => isDnsLabel(l)))
    throw new InvalidInput(
      `--domain ${domain} is not a host name.`,
      'Pass a domain such as localhost or preview.example.com (wildcard DNS pointing at this host).',
    )
  const seconds = (v: string | undefined, what: string) => (v === undefined ? null : parseDuration(v, what) * 1000)
  const idleTtlMs = seconds(pick(flags.idleTtl, 'idle_ttl', String) ?? SERVE_DEFAULTS.idleTtl, '--idle-ttl')!
  const autoPullMs = seconds(pick(flags.autoPull, 'auto_pull', String), '--auto-pull')
  const readyTimeoutMs = seconds(pick(flags.readyTimeout, 'ready_timeout', String) ?? SERVE_DEFAULTS.readyTimeout, '--ready-timeout')!
  const maxRestarts = section.max_restarts === undefined ? SERVE_DEFAULTS.maxRestarts : Number(section.max_restarts)
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0)
    throw new InvalidInput(`serve.max_restarts in ${file} must be a whole number >= 0.`)
  const secret = pick(flags.secret, 'secret', String) ?? null
  if (secret !== null && secret.length < 16)
    throw new InvalidInput(
      '--secret is too short to sign names (at least 16 characters).',
      'Use a long random secret, e.g. `openssl rand -hex 32`.',
    )
  const persistRepos = pick(flags.persistRepos, 'persist_repos', (s) => path.resolve(base, s)) ?? null
  const resolvePath = (p: string, from: string) => (isGitUrl(p) ? p : path.resolve(from, p))

  let repos: RepoSpec[] = flags.repos.map((a) => {
    const r = parseRepoArg(a)
    return {...r, path: resolvePath(r.path, opts.cwd)}
  })
  if (repos.length === 0 && Array.isArray(section.repos)) {
    repos = section.repos.map((item) => {
      const r = repoFromConfig(item, file!)
      return {...r, path: resolvePath(r.path, base)}
    })
  }

  // The persisted list (admin API changes) adds to what was given; a label given again keeps the one given now.
  if (persistRepos !== null) {
    for (const r of readPersisted(persistRepos)) {
      if (!repos.some((x) => x.label === r.label && (r.label !== null || x.path === r.path))) repos.push(r)
      else if (r.paused)
        Object.assign(
          repos.find((x) => x.label === r.label)!,
          {paused: true},
        )
    }
  }

  const basicAuth = pick(flags.basicAuth, 'basic_auth', String) ?? null
  const auth = pick(flags.auth, 'auth', String) ?? (basicAuth === null ? 'none' : 'basic')
  if (auth !== 'none' && auth !== 'basic' && auth !== 'token') throw new InvalidInput(`--auth must be none, basic or token, not "${auth}".`)
  if (auth === 'basic' && basicAuth === null)
    throw new InvalidInput('--auth basic needs --basic-auth USER:PASS.', 'Pass --basic-auth USER:<password> (or PREVIEW_SERVE_BASIC_AUTH).')
  const publicScheme = pick(flags.publicScheme, 'public_scheme', String) ?? 'http'
  if (publicScheme !== 'http' && publicScheme !== 'https')
    throw new InvalidInput(
      `--public-scheme must be http or https, not "${publicScheme}".`,
      'Pass --public-scheme https when a TLS proxy (Caddy, nginx) is in front.',
    )
  return {
    adminSecret: pick(flags.adminSecret, 'admin_secret', String) ?? null,
    auth,
    autoPullMs,
    basicAuth,
    bind: pick(flags.bind, 'bind', String) ?? SERVE_DEFAULTS.bind,
    domain,
    env: opts.env,
    idleTtlMs,
    jsonLogs: pick(flags.jsonLogs, 'json_logs', (s) => path.resolve(base, s)) ?? null,
    maxRestarts,
    persistRepos,
    port,
    publicScheme,
    readyTimeoutMs,
    repos,
    secret,
  }
}
