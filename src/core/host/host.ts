// `preview serve`: one listener that routes by Host to many previews, each supervised in-process by a
// PreviewRunner. Requests the host answers itself (status, dashboard, metrics, admin API, 403/404/503 pages) go
// through the same listener to a small node:http server of ours on 127.0.0.1, behind a route with auth `none`
// (that server checks the admin credentials itself).
// Parts: state.ts (what they share), routes.ts (route per host name, on-demand start and wake), refs.ts (refs and
// fetch), access.ts (route auth, token links), repos-admin.ts (admin verbs, persisted list, status files),
// idle.ts (idle stops), port-pool.ts (ports picked ahead), caddy-edge.ts (`--caddy`), http.ts (the host's pages).
import http from 'node:http'
import type net from 'node:net'
import {InvalidInput, TunnelFailed} from '../errors.js'
import {startListener, type Route} from '../gateway/index.js'
import type {RequestRecord} from '../gateway/types.js'
import {CADDY_HINT} from '../tunnels/drivers/caddy.js'
import {HostAccess} from './access.js'
import {registerWithCaddy, type CaddyEdge} from './caddy-edge.js'
import {handleHostRequest} from './http.js'
import {startIdleChecks} from './idle.js'
import {HostMetrics} from './metrics.js'
import {parseHost, previewLabel, type NameRules} from './names.js'
import {PortPool} from './port-pool.js'
import {RefResolver} from './refs.js'
import {defaultBranch, defaultLabel, openRepo, type RepoSpec, type ResolvedRef, type ServedRepo} from './repos.js'
import {addRepo, persist, removeRepo, setPaused, writeStatusFiles} from './repos-admin.js'
import {RouteTable, type Problem} from './routes.js'
import {PreviewRunner, type RunnerEvent, type SubServer} from './runner.js'
import {HostState, type HostOptions} from './state.js'
import {claimRepo, removeHostFile} from './status-file.js'

export type {HostOptions} from './state.js'

export interface HostStatus {
  status: 'ok' | 'stopping'
  running_servers: number
  idle_ttl_seconds: number
  sub_servers: SubServer[]
}

export class Host {
  readonly metrics = new HostMetrics()
  private readonly state: HostState
  private readonly access: HostAccess
  private readonly refs: RefResolver
  private readonly ports: PortPool
  private readonly routes: RouteTable
  private caddy: CaddyEdge | null = null
  private internal: http.Server | null = null
  private idleTimer: NodeJS.Timeout | null = null
  private closing: Promise<void> | null = null

  constructor(readonly opts: HostOptions) {
    const state = new HostState(opts)
    this.state = state
    this.access = new HostAccess(state, (repo, name, links) => {
      this.routes.setLinks(repo, name, links)
      state.listener?.sweep()
    })
    this.refs = new RefResolver((entry) => state.logJson(entry))
    this.ports = new PortPool(() => state.closing)
    this.routes = new RouteTable({
      resolveRef: (repo, name) => this.refs.resolve(repo, name),
      routeAuth: (name, repo) => this.access.routeAuth(name, repo),
      runnerFor: (repo, resolved, name, port) => this.runnerFor(repo, resolved, name, port),
      state,
      takePort: () => this.ports.take(),
    })
  }

  get port(): number {
    return this.state.port
  }

  get url(): string {
    return this.state.url
  }

  get servedRepos(): readonly ServedRepo[] {
    return this.state.repos
  }

  /** Name rules now: single-repository mode is one repository without a label. */
  rules(): NameRules {
    return this.state.rules()
  }

  /** Opens the repositories, then the internal server and the listener. */
  async start(): Promise<void> {
    const opened = await this.openRepos(this.opts.repos)
    for (const repo of opened) await claimRepo(repo.paths, repo.root)
    this.state.repos = opened
    await this.startInternal()
    try {
      this.state.listener = await startListener({
        bindHost: this.opts.bind,
        onRequest: (r, route) => this.onRequest(r, route),
        port: this.opts.port,
        resolveRoute: (host, head) => this.routes.resolve(host, head),
      })
    } catch (error) {
      this.internal!.close()
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE')
        throw new InvalidInput(`Port ${this.opts.port} on ${this.opts.bind} is in use.`, 'Pass another --port (0 picks a free one).')
      throw error
    }

    await this.ports.refill()
    if (this.opts.caddyAdmin) await this.registerCaddy(this.opts.caddyAdmin)
    this.idleTimer = startIdleChecks(this.state, this.routes)
    persist(this.state)
    writeStatusFiles(this.state)
  }

  private async openRepos(specs: RepoSpec[]): Promise<ServedRepo[]> {
    if (specs.length === 0)
      throw new InvalidInput(
        'No repository to serve.',
        'Pass one or more [LABEL=]PATH or [LABEL=]GIT_URL arguments (or `repos:` under `serve:` in the config).',
      )
    const opened: ServedRepo[] = []
    for (const spec of specs) {
      const label = spec.label ?? (specs.length > 1 ? defaultLabel(spec.path) : null)
      const repo = await openRepo({label, path: spec.path}, spec.paused ?? false)
      if (label !== null && opened.some((r) => r.label === label))
        throw new InvalidInput(`The label "${label}" is given twice.`, 'Give each repository its own label: LABEL=PATH.')
      opened.push(repo)
    }

    return opened
  }

  /** The host's own pages, on 127.0.0.1 behind its internal routes. */
  private async startInternal(): Promise<void> {
    const internal = http.createServer((req, res) => {
      handleHostRequest(this, req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, {'content-type': 'text/plain; charset=utf-8'})
        res.end(`${(error as Error).message}\n`)
      })
    })
    this.internal = internal
    await new Promise<void>((resolve, reject) => {
      internal.once('error', reject)
      internal.listen(0, '127.0.0.1', () => resolve())
    })
    this.state.internalPort = (internal.address() as net.AddressInfo).port
  }

  /** `--caddy`: the wildcard route in Caddy; the host stops again when Caddy does not take it. */
  private async registerCaddy(adminUrl: string): Promise<void> {
    const bind = this.opts.bind === '0.0.0.0' || this.opts.bind === '::' ? '127.0.0.1' : this.opts.bind
    try {
      this.caddy = await registerWithCaddy({
        adminUrl,
        dial: `${bind.includes(':') ? `[${bind}]` : bind}:${this.port}`,
        domain: this.opts.domain,
        log: (line) => this.logJson({event: 'caddy', message: line}),
      })
    } catch (error) {
      await this.close()
      throw new TunnelFailed(
        'caddy',
        'error',
        `Caddy did not take the route for *.${this.opts.domain}: ${(error as Error).message}`,
        CADDY_HINT,
      )
    }
  }

  /** The URL a host name label is reached at: the public scheme, and this port unless behind https or on 80. */
  publicUrl(label: string | null): string {
    return this.state.publicUrl(label)
  }

  /** Example host names of each repository (its default branch), as `preview serve` prints them. */
  async exampleNames(): Promise<{label: string | null; name: string; url: string}[]> {
    const out = []
    for (const r of this.state.repos) {
      const name =
        r.label === null
          ? previewLabel(null, (await defaultBranch(r.root)) ?? 'main', this.opts.secret)
          : previewLabel(r.label, null, this.opts.secret)
      out.push({label: r.label, name, url: this.publicUrl(name)})
    }

    return out
  }

  /** A token link to a served name (`--auth token`): POST /-/preview/share. */
  share(name: string, expireSeconds: number): Promise<{name: string; url: string; jti: string; expires_at_epoch: number}> {
    return this.access.share(name, expireSeconds)
  }

  /** Revokes one token link of a name, or all of them: POST /-/preview/revoke. Open sockets of revoked links close. */
  revoke(name: string, jti: string | null): {name: string; revoked: number} {
    return this.access.revoke(name, jti)
  }

  /** One runner per repository and ref, named for the host name label it was first asked by. */
  private runnerFor(repo: ServedRepo, resolved: ResolvedRef, name: string, port: number | undefined): PreviewRunner {
    const key = `${repo.label ?? ''}\0${repo.root}\0${resolved.ref}`
    let runner = this.state.runners.get(key)
    if (runner) return runner
    runner = new PreviewRunner(
      {
        autoPullMs: this.opts.autoPullMs,
        branch: resolved.branch,
        configCommand: repo.config.command,
        configInstall: repo.config.install,
        env: this.opts.env,
        label: repo.label,
        maxRestarts: repo.config.max_restarts ?? this.opts.maxRestarts,
        name,
        paths: repo.paths,
        port,
        readyTimeoutMs: this.opts.readyTimeoutMs,
        ref: resolved.ref.replace(/^refs\/tags\//, ''),
        root: repo.root,
      },
      (event, r) => this.onRunnerEvent(event, r),
    )
    this.state.runners.set(key, runner)
    return runner
  }

  private onRunnerEvent(event: RunnerEvent, runner: PreviewRunner): void {
    this.metrics.event(event, runner.spec.label)
    const repo = this.state.repoOf(runner)
    if (repo) writeStatusFiles(this.state, repo)
    this.logJson({event, label: runner.spec.label, name: runner.spec.name, ref: runner.spec.ref})
  }

  private onRequest(r: RequestRecord, route: Route | null): void {
    const b = route === null ? undefined : this.routes.bindingOf(route)
    const runner = b?.runner ?? null
    runner?.recordRequest(r)
    this.metrics.request(b?.repo?.label ?? null, r.status)
    // The signature is left out: a signed name is what lets a request run code here, and logs travel further.
    this.logJson({
      ...r,
      event: 'request',
      host: b ? b.host.replace(/--[0-9a-f]{20}(?=\.)/, '--<sig>') : null,
      name: runner?.spec.name ?? null,
    })
  }

  /** The JSON status (`GET /-/preview.json`). */
  status(): HostStatus {
    const now = Date.now()
    const subs = [...this.state.runners.values()].map((r) => r.status(now, this.opts.idleTtlMs))
    return {
      idle_ttl_seconds: Math.round(this.opts.idleTtlMs / 1000),
      running_servers: subs.filter((s) => s.status === 'running').length,
      status: this.closing ? 'stopping' : 'ok',
      sub_servers: subs,
    }
  }

  /** The state of the preview behind a host name, for the "starting" page. */
  runnerStateFor(publicHost: string): {ref: string | null; state: string | null; lines: string[]} {
    return this.routes.runnerStateFor(publicHost)
  }

  /** Why the host itself answers for a host name (unknown ref, failed start), from the name's route. */
  problemFor(publicHost: string): Problem {
    return this.routes.problemFor(publicHost)
  }

  /** The Prometheus exposition, with the running gauge set from the runners now. */
  metricsText(): Promise<string> {
    const running = new Map<string | null, number>()
    for (const r of this.state.repos) running.set(r.label, 0)
    for (const runner of this.state.runners.values())
      if (runner.state === 'running') running.set(runner.spec.label, (running.get(runner.spec.label) ?? 0) + 1)
    return this.metrics.render(running)
  }

  // --- admin API (repos-admin.ts) ---

  addRepo(spec: RepoSpec): Promise<ServedRepo> {
    return addRepo(this.state, this.routes, spec)
  }

  removeRepo(label: string): Promise<void> {
    return removeRepo(this.state, this.routes, label)
  }

  setPaused(label: string, paused: boolean): Promise<ServedRepo> {
    return setPaused(this.state, this.routes, label, paused)
  }

  findRepo(label: string): ServedRepo {
    return this.state.findRepo(label)
  }

  logJson(entry: Record<string, unknown>): void {
    this.state.logJson(entry)
  }

  /**
   * Caddy's on-demand TLS `ask`: would this host serve `domain`? The bare domain (the dashboard), and names it
   * would serve: under the domain, signed when signing is on, of a known label, naming a ref that exists.
   */
  async wouldServe(domain: string): Promise<boolean> {
    const target = parseHost(domain.trim().toLowerCase(), this.rules())
    if (target.kind === 'host') return true
    if (target.kind !== 'preview') return false
    const repo = this.state.repoFor(target.label)
    if (!repo) return false
    return (await this.refs.resolve(repo, target.ref).catch(() => null)) !== null
  }

  /** Stops every dev server (process groups), then the listener and the internal server. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state.closing = true
      await this.caddy?.close()
      this.caddy = null
      if (this.idleTimer) clearInterval(this.idleTimer)
      await Promise.all([...this.state.runners.values()].map((r) => r.stop()))
      for (const repo of this.state.repos) removeHostFile(repo.paths)
      await this.state.listener?.close()
      await new Promise<void>((resolve) => {
        if (!this.internal) return resolve()
        this.internal.close(() => resolve())
        this.internal.closeAllConnections()
      })
    })()
    return this.closing
  }
}
