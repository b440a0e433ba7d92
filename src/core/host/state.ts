// What the parts of `preview serve` share: its settings, the repositories it serves, one runner per served ref,
// the listener, and the port of its own internal server (status, dashboard, admin API, the 403/404/503 pages).
import {appendFileSync} from 'node:fs'
import {InvalidInput} from '../errors.js'
import type {Listener} from '../gateway/index.js'
import {signName, type NameRules} from './names.js'
import type {RepoSpec, ServedRepo} from './repos.js'
import type {PreviewRunner} from './runner.js'

export interface HostOptions {
  repos: RepoSpec[]
  port: number
  bind: string
  domain: string
  secret: string | null
  /** USER:PASS for every route (the gateway's basic user is `preview`) and the admin API. */
  basicAuth: string | null
  /** What every preview route asks for: nothing, the basic credentials, or a token link (minted by the admin API). */
  auth: 'none' | 'basic' | 'token'
  adminSecret: string | null
  idleTtlMs: number
  autoPullMs: number | null
  readyTimeoutMs: number
  maxRestarts: number
  jsonLogs: string | null
  persistRepos: string | null
  /** `https` behind a TLS proxy: the origin browsers send, the cookie's Secure flag, the URLs printed. */
  publicScheme: 'http' | 'https'
  /** `--caddy`: the admin API of a Caddy to register `*.<domain>` with (null: none). */
  caddyAdmin?: string | null
  env: NodeJS.ProcessEnv
}

export class HostState {
  repos: ServedRepo[] = []
  /** One runner per repository (label and root) and ref. */
  readonly runners = new Map<string, PreviewRunner>()
  listener: Listener | null = null
  /** The host's own node:http server on 127.0.0.1 (0 until it listens). */
  internalPort = 0
  closing = false

  constructor(readonly opts: HostOptions) {}

  get port(): number {
    return this.listener?.port ?? 0
  }

  get url(): string {
    return this.listener?.url ?? ''
  }

  /** Name rules now: single-repository mode is one repository without a label. */
  rules(): NameRules {
    const single = this.repos.length === 1 && this.repos[0]!.label === null
    return {domain: this.opts.domain, labels: single ? [] : this.repos.map((r) => r.label!), secret: this.opts.secret}
  }

  /** The repository a parsed host name names (null label: the one of single-repository mode). */
  repoFor(label: string | null): ServedRepo | undefined {
    return label === null ? this.repos[0] : this.repos.find((r) => r.label === label)
  }

  /** The repository a runner serves (gone once removed). */
  repoOf(runner: PreviewRunner): ServedRepo | undefined {
    return this.repos.find((r) => r.root === runner.spec.root && r.label === runner.spec.label)
  }

  findRepo(label: string): ServedRepo {
    const repo = this.repos.find((r) => (r.label ?? '') === label)
    if (!repo) throw new InvalidInput(`No repository is served under the label "${label}".`, 'GET /-/preview/repos lists them.')
    return repo
  }

  /** A name as it is reached: signed when the host signs. */
  signed(name: string): string {
    return this.opts.secret === null ? name : signName(this.opts.secret, name)
  }

  /** The URL a host name label is reached at: the public scheme, and this port unless behind https or on 80. */
  publicUrl(label: string | null): string {
    const host = label === null ? this.opts.domain : `${label}.${this.opts.domain}`
    const port = this.opts.publicScheme === 'https' || this.port === 80 ? '' : `:${this.port}`
    return `${this.opts.publicScheme}://${host}${port}/`
  }

  logJson(entry: Record<string, unknown>): void {
    if (this.opts.jsonLogs === null) return
    try {
      appendFileSync(this.opts.jsonLogs, `${JSON.stringify({ts: new Date().toISOString(), ...entry})}\n`, {mode: 0o600})
    } catch {
      // a log that cannot be written must not take the host down
    }
  }
}
