// `preview serve`: one listener that routes by Host to many previews, each supervised in-process by a
// PreviewRunner. Requests the host answers itself (status, dashboard, metrics, admin API, 403/404/503 pages) go
// through the same listener to a small node:http server of ours on 127.0.0.1, behind a route with auth `none`
// (that server checks the admin credentials itself).
import {appendFileSync} from 'node:fs'
import http from 'node:http'
import type net from 'node:net'
import {InvalidInput, isPreviewError, TunnelFailed} from '../errors.js'
import {makeRoute, setRoutePublicUrl, startListener, type Listener, type Route} from '../gateway/index.js'
import type {GatewayAuth} from '../gateway/index.js'
import type {RequestHead} from '../gateway/parse.js'
import type {RequestRecord} from '../gateway/types.js'
import {sha256Hex} from '../records/credentials.js'
import type {LinkRecord} from '../records/types.js'
import {CADDY_HINT} from '../tunnels/drivers/caddy.js'
import {registerWithCaddy, type CaddyEdge} from './caddy-edge.js'
import {handleHostRequest} from './http.js'
import {HostMetrics} from './metrics.js'
import {procStartTime} from '../process.js'
import {hostName, isDnsLabel, parseHost, parseName, previewLabel, signName, type HostTarget, type NameRules} from './names.js'
import {
  defaultBranch,
  defaultLabel,
  fetchAll,
  lookupRef,
  openRepo,
  writePersisted,
  type RepoSpec,
  type ResolvedRef,
  type ServedRepo,
} from './repos.js'
import {HostLinks, servedPreviewId} from './links.js'
import {claimRepo, removeHostFile, writeHostFile} from './status-file.js'
import {freePort, PreviewRunner, type RunnerEvent, type SubServer} from './runner.js'

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

/** Hosts whose route is remembered; past this the ones with no preview behind them are forgotten. */
const ROUTE_CACHE_MAX = 2048
/** A name found unknown (after a fetch) is answered 404 from memory for this long before it is looked up again. */
export const UNKNOWN_REF_FETCH_MS = 2000
/** Fetches of one repository start at least this far apart. */
export const FETCH_INTERVAL_MS = 1000
/** A failed start is tried again by a request at most this often. */
export const RETRY_FAILED_START_MS = 5000
/** How often idle previews are looked for (at most; shorter for short TTLs). */
const IDLE_CHECK_MS = 1000
/** Ports kept picked ahead for new previews. */
const PORT_POOL = 4

/** A browser loading a page (not a script, a fetch or a WebSocket): it may be shown the "starting" page. */
function isBrowserNavigation(head: RequestHead): boolean {
  if (head.method !== 'GET' || head.upgrade !== null) return false
  const accept = head.headers.find(([k]) => k.toLowerCase() === 'accept')?.[1] ?? ''
  return accept.includes('text/html')
}

/** What a host name's route leads to. */
interface Binding {
  host: string
  target: HostTarget
  /** For a preview: the repository and, once resolved, the runner. */
  repo: ServedRepo | null
  runner: PreviewRunner | null
  /** Why it cannot be served (unknown ref, failed start): the host's own page says so. */
  problem: {status: number; message: string} | null
  checkedAt: number
  /** The "starting" page's route (same auth as the preview's), made on first use. */
  startingRoute?: Route
  /** The port picked for the dev server when this route was made (its targetPort until the runner says). */
  port?: number | undefined
}

export interface HostStatus {
  status: 'ok' | 'stopping'
  running_servers: number
  idle_ttl_seconds: number
  sub_servers: SubServer[]
}

export class Host {
  private caddy: CaddyEdge | null = null
  readonly metrics = new HostMetrics()
  private listener: Listener | null = null
  private internal: http.Server | null = null
  private internalPort = 0
  private readonly routes = new Map<string, {route: Route; binding: Binding}>()
  private readonly runners = new Map<string, PreviewRunner>()
  private readonly routeOf = new WeakMap<Route, Binding>()
  private repos: ServedRepo[] = []
  private idleTimer: NodeJS.Timeout | null = null
  private closing: Promise<void> | null = null
  /** Free ports picked ahead, so a new preview route knows its dev server's port at once (runner.ts RunnerSpec.port). */
  private readonly portPool: number[] = []
  private readonly fetches = new Map<string, {at: number; running: Promise<void> | null}>()
  private refilling = false
  private readonly basicLink: LinkRecord | null
  /** Token links per repository root (`--auth token`). */
  private readonly links = new Map<string, HostLinks>()
  readonly startedAt = Date.now()

  constructor(readonly opts: HostOptions) {
    this.basicLink = null
    if (opts.basicAuth !== null) {
      const colon = opts.basicAuth.indexOf(':')
      const user = opts.basicAuth.slice(0, colon)
      const pass = opts.basicAuth.slice(colon + 1)
      if (colon < 1 || pass === '')
        throw new InvalidInput('--basic-auth must be USER:PASS.', 'Pass --basic-auth preview:<a long random password>.')
      if (user !== 'preview')
        throw new InvalidInput(
          `--basic-auth user must be "preview" (the gateway's basic user), not "${user}".`,
          'Pass --basic-auth preview:<password>.',
        )
      this.basicLink = {
        auth_mode: 'basic',
        expires_at_epoch: Number.MAX_SAFE_INTEGER,
        jti: 'serve-basic',
        password_sha256: sha256Hex(pass),
        revoked: false,
      }
    }

    if (opts.auth === 'basic' && this.basicLink === null)
      throw new InvalidInput('auth basic needs the basic credentials.', 'Pass --basic-auth preview:<password>.')
  }

  get port(): number {
    return this.listener?.port ?? 0
  }

  get url(): string {
    return this.listener?.url ?? ''
  }

  get idleTtlMs(): number {
    return this.opts.idleTtlMs
  }

  get servedRepos(): readonly ServedRepo[] {
    return this.repos
  }

  /** Name rules now: single-repository mode is one repository without a label. */
  rules(): NameRules {
    const single = this.repos.length === 1 && this.repos[0]!.label === null
    return {domain: this.opts.domain, labels: single ? [] : this.repos.map((r) => r.label!), secret: this.opts.secret}
  }

  /** Opens the repositories, then the internal server and the listener. */
  async start(): Promise<void> {
    const specs = this.opts.repos
    if (specs.length === 0)
      throw new InvalidInput(
        'No repository to serve.',
        'Pass one or more [LABEL=]PATH arguments (or `repos:` under `serve:` in the config).',
      )
    const opened: ServedRepo[] = []
    for (const spec of specs) {
      const label = spec.label ?? (specs.length > 1 ? defaultLabel(spec.path) : null)
      const repo = await openRepo({label, path: spec.path}, spec.paused ?? false)
      if (label !== null && opened.some((r) => r.label === label))
        throw new InvalidInput(`The label "${label}" is given twice.`, 'Give each repository its own label: LABEL=PATH.')
      opened.push(repo)
    }

    for (const repo of opened) await claimRepo(repo.paths, repo.root)
    this.repos = opened
    this.internal = http.createServer((req, res) => {
      handleHostRequest(this, req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, {'content-type': 'text/plain; charset=utf-8'})
        res.end(`${(error as Error).message}\n`)
      })
    })
    await new Promise<void>((resolve, reject) => {
      this.internal!.once('error', reject)
      this.internal!.listen(0, '127.0.0.1', () => resolve())
    })
    this.internalPort = (this.internal.address() as net.AddressInfo).port
    try {
      this.listener = await startListener({
        bindHost: this.opts.bind,
        onRequest: (r, route) => this.onRequest(r, route),
        port: this.opts.port,
        resolveRoute: (host, head) => this.resolveRoute(host, head),
      })
    } catch (error) {
      this.internal.close()
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE')
        throw new InvalidInput(`Port ${this.opts.port} on ${this.opts.bind} is in use.`, 'Pass another --port (0 picks a free one).')
      throw error
    }

    await this.refillPorts()
    if (this.opts.caddyAdmin) {
      const bind = this.opts.bind === '0.0.0.0' || this.opts.bind === '::' ? '127.0.0.1' : this.opts.bind
      try {
        this.caddy = await registerWithCaddy({
          adminUrl: this.opts.caddyAdmin,
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

    const every = Math.min(IDLE_CHECK_MS, Math.max(100, this.opts.idleTtlMs / 4))
    this.idleTimer = setInterval(() => this.checkIdle(), every)
    this.idleTimer.unref()
    this.persist()
    this.writeStatusFiles()
  }

  /** `.sdd/runtime/preview/serve.json` of each repository: what `preview list` and `preview cleanup` see. */
  private writeStatusFiles(only?: ServedRepo): void {
    // One file per repository root (two labels may serve the same checkout).
    const roots = new Map((only ? [only] : this.repos).map((r) => [r.root, r]))
    for (const repo of roots.values()) {
      const previews = [...this.runners.values()]
        .filter((r) => r.spec.root === repo.root)
        .map((r) => {
          const st = r.status()
          const paused = this.repos.find((x) => x.root === r.spec.root && x.label === r.spec.label)?.paused ?? false
          const signed = this.opts.secret === null ? st.name : signName(this.opts.secret, st.name)
          return {
            command: st.command,
            commit: st.commit,
            label: st.label,
            name: st.name,
            pid: st.pid,
            pid_start_time: st.pid ? procStartTime(st.pid) : null,
            port: st.port,
            ref: st.ref,
            status: paused ? 'paused' : st.status,
            url: this.publicUrl(signed),
            worktree: r.worktreeDir,
          }
        })
      try {
        writeHostFile(repo.paths, {auth_mode: this.opts.auth, domain: this.opts.domain, previews, url: this.url})
      } catch {
        // a read-only .sdd must not take the host down; list just will not show it
      }
    }
  }

  private async refillPorts(): Promise<void> {
    if (this.refilling) return
    this.refilling = true
    try {
      while (this.portPool.length < PORT_POOL && !this.closing) this.portPool.push(await freePort())
    } finally {
      this.refilling = false
    }
  }

  private takePort(): number | undefined {
    const port = this.portPool.shift()
    this.refillPorts().catch(() => {}) // no port picked ahead: the runner picks its own at spawn
    return port
  }

  /** The URL a host name label is reached at: the public scheme, and this port unless behind https or on 80. */
  publicUrl(label: string | null): string {
    const host = label === null ? this.opts.domain : `${label}.${this.opts.domain}`
    const port = this.opts.publicScheme === 'https' || this.port === 80 ? '' : `:${this.port}`
    return `${this.opts.publicScheme}://${host}${port}/`
  }

  /** Example host names of each repository (its default branch), as `preview serve` prints them. */
  async exampleNames(): Promise<{label: string | null; name: string; url: string}[]> {
    const out = []
    for (const r of this.repos) {
      const name =
        r.label === null
          ? previewLabel(null, (await defaultBranch(r.root)) ?? 'main', this.opts.secret)
          : previewLabel(r.label, null, this.opts.secret)
      out.push({label: r.label, name, url: this.publicUrl(name)})
    }

    return out
  }

  private internalRoute(host: string, target: HostTarget, problem: Binding['problem'] = null): Route {
    const route = makeRoute({jwtKey: new Uint8Array(32), links: [], mode: 'none', previewId: 'serve-host'}, this.internalPort)
    this.bindRoute(host, route, {checkedAt: Date.now(), host, problem, repo: null, runner: null, target})
    return route
  }

  private bindRoute(host: string, route: Route, binding: Binding): void {
    try {
      setRoutePublicUrl(route, `${this.opts.publicScheme}://${host}`)
    } catch {
      // a Host header URL cannot hold: no public host for this route
    }

    if (this.routes.size >= ROUTE_CACHE_MAX) {
      for (const [k, v] of this.routes) if (v.binding.runner === null) this.routes.delete(k)
    }

    this.routes.set(host, {binding, route})
    this.routeOf.set(route, binding)
  }

  /**
   * The listener's router. A browser navigating to a preview that is not up yet gets the host's small
   * auto-refreshing "starting" page (behind the same auth) while the start runs; other clients wait for it.
   */
  private resolveRoute(header: string | null, head?: RequestHead): Route | null {
    const route = this.lookupRoute(header)
    if (route === null || head === undefined || !isBrowserNavigation(head)) return route
    const b = this.routeOf.get(route)
    if (!b || b.target.kind !== 'preview' || b.repo === null || b.problem !== null || b.runner?.state === 'running') return route
    void this.ensureUpstream(route, b).catch(() => {}) // the start runs now; the page refreshes until it is up
    if (!b.startingRoute) {
      b.startingRoute = makeRoute(this.routeAuth((b.target as {name: string}).name, b.repo), this.internalPort)
      try {
        setRoutePublicUrl(b.startingRoute, `${this.opts.publicScheme}://${b.host}`)
      } catch {
        // no public host
      }

      this.routeOf.set(b.startingRoute, b)
    }

    return b.startingRoute
  }

  /** A route per host name, made on first sight (sync; refs resolve in ensureUpstream). */
  private lookupRoute(header: string | null): Route | null {
    const key = (header ?? '').trim().toLowerCase()
    const known = this.routes.get(key)
    if (known) {
      const b = known.binding
      // A paused repository's names answer 503 from the host; resumed, the preview's route serves again.
      if (b.repo !== null && b.repo.paused)
        return this.internalRouteFor(key, b.target, {message: `The repository "${b.repo.label ?? b.repo.path}" is paused.`, status: 503})
      if (b.target.kind === 'preview' && b.repo !== null && !this.repos.includes(b.repo)) {
        this.routes.delete(key)
      } else {
        return known.route
      }
    }

    const target = parseHost(header, this.rules())
    if (hostName(header) === null) return null
    if (target.kind !== 'preview') return this.internalRoute(key, target)
    const repo = target.label === null ? this.repos[0]! : this.repos.find((r) => r.label === target.label)!
    if (repo.paused)
      return this.internalRouteFor(key, target, {message: `The repository "${repo.label ?? repo.path}" is paused.`, status: 503})
    const binding: Binding = {checkedAt: 0, host: key, port: this.takePort(), problem: null, repo, runner: null, target}
    const route = makeRoute(this.routeAuth(target.name, repo), binding.port ?? 0, {
      ensureUpstream: () => this.ensureUpstream(route, binding),
      onActivity: () => binding.runner?.touch(),
    })
    this.bindRoute(key, route, binding)
    return route
  }

  /** A host page for a name (paused): not remembered, so the name serves again once resumed. */
  private internalRouteFor(host: string, target: HostTarget, problem: Binding['problem']): Route {
    const route = makeRoute({jwtKey: new Uint8Array(32), links: [], mode: 'none', previewId: 'serve-host'}, this.internalPort)
    try {
      setRoutePublicUrl(route, `${this.opts.publicScheme}://${host}`)
    } catch {
      // no public host
    }

    this.routeOf.set(route, {checkedAt: Date.now(), host, problem, repo: null, runner: null, target})
    return route
  }

  private routeAuth(name: string, repo: ServedRepo): GatewayAuth {
    const previewId = servedPreviewId(name)
    switch (this.opts.auth) {
      case 'none': {
        return {jwtKey: new Uint8Array(32), links: [], mode: 'none', previewId}
      }

      case 'basic': {
        return {jwtKey: new Uint8Array(32), links: [this.basicLink!], mode: 'basic', previewId}
      }

      case 'token': {
        const links = this.linksOf(repo)
        return {jwtKey: links.key, links: links.links(name), mode: 'token', previewId, reloadLinks: () => links.links(name)}
      }
    }
  }

  private linksOf(repo: ServedRepo): HostLinks {
    let links = this.links.get(repo.root)
    if (!links) {
      links = new HostLinks(repo.paths)
      this.links.set(repo.root, links)
    }

    return links
  }

  /** A token link to a served name (`--auth token`): POST /-/preview/share. */
  async share(name: string, expireSeconds: number): Promise<{name: string; url: string; jti: string; expires_at_epoch: number}> {
    if (this.opts.auth !== 'token')
      throw new InvalidInput('Token links need a host started with --auth token.', 'Restart it with --auth token, or use --basic-auth.')
    const {repo, target} = this.servedName(name)
    const expires = Math.floor(Date.now() / 1000) + expireSeconds
    const {record, token} = await this.linksOf(repo).mint(target.name, expires)
    this.applyLinks(repo, target.name)
    const signed = this.opts.secret === null ? target.name : signName(this.opts.secret, target.name)
    const url = new URL(this.publicUrl(signed))
    url.searchParams.set('token', token)
    this.logJson({event: 'link', expires_at_epoch: expires, jti: record.jti, name: target.name})
    return {expires_at_epoch: expires, jti: record.jti, name: target.name, url: url.toString()}
  }

  /** Revokes one token link of a name, or all of them: POST /-/preview/revoke. Open sockets of revoked links close. */
  revoke(name: string, jti: string | null): {name: string; revoked: number} {
    if (this.opts.auth !== 'token') throw new InvalidInput('This host has no token links (it was not started with --auth token).')
    const {repo, target} = this.servedName(name)
    const revoked = this.linksOf(repo).revoke(target.name, jti)
    this.applyLinks(repo, target.name)
    this.logJson({event: 'revoke', jti, name: target.name, revoked})
    return {name: target.name, revoked}
  }

  /** A name as the host serves it (unsigned: `main`, `app`, `app--feature-x`). */
  private servedName(name: string): {repo: ServedRepo; target: Extract<HostTarget, {kind: 'preview'}>} {
    const lower = String(name).toLowerCase()
    if (!isDnsLabel(lower))
      throw new InvalidInput(
        `"${name}" is not a host name label.`,
        'Pass the name without the domain and without a signature, e.g. "main" or "app--feature-x" (feature/x is written feature-x).',
      )
    const target = parseName(lower, this.rules())
    if (target.kind !== 'preview')
      throw new InvalidInput(
        `"${name}" is not a name this host serves${'reason' in target ? `: ${target.reason}` : ''}.`,
        'Pass the host name label without the domain and without a signature, e.g. "main" or "app--feature-x".',
      )
    const repo = target.label === null ? this.repos[0]! : this.repos.find((r) => r.label === target.label)!
    return {repo, target}
  }

  /** New or revoked links of a name reach its routes at once, and sockets of revoked links close. */
  private applyLinks(repo: ServedRepo, name: string): void {
    const links = this.linksOf(repo).links(name)
    for (const {binding, route} of this.routes.values()) {
      if (binding.repo !== repo || binding.target.kind !== 'preview' || binding.target.name !== name) continue
      route.authority.setLinks(links)
      binding.startingRoute?.authority.setLinks(links)
    }

    this.listener?.sweep()
  }

  /** Before a connection's first upstream connect: the ref resolved (fetched once when unknown), the runner up. */
  private async ensureUpstream(route: Route, b: Binding): Promise<void> {
    const repo = b.repo!
    const target = b.target as Extract<HostTarget, {kind: 'preview'}>
    if (b.runner === null) {
      if (b.problem !== null && Date.now() - b.checkedAt < UNKNOWN_REF_FETCH_MS) {
        route.targetPort = this.internalPort
        return
      }

      let resolved: ResolvedRef | null
      try {
        resolved = await this.resolveRef(repo, target.ref)
      } catch (error) {
        b.checkedAt = Date.now()
        b.problem = {message: (error as Error).message, status: 404}
        route.targetPort = this.internalPort
        return
      }

      b.checkedAt = Date.now()
      if (resolved === null) {
        b.problem = {
          message: `No branch, tag or commit "${target.ref ?? '(default branch)'}" in ${repo.label ?? repo.path} (after git fetch).`,
          status: 404,
        }
        route.targetPort = this.internalPort
        return
      }

      b.problem = null
      b.runner = this.runnerFor(repo, resolved, target.name, b.port)
      b.runner.touch()
    }

    // A start that just failed is not tried again for every request (a browser reloading, a page's assets).
    if (b.runner.state === 'crashed' && b.problem !== null && Date.now() - b.checkedAt < RETRY_FAILED_START_MS) {
      route.targetPort = this.internalPort
      return
    }

    try {
      await b.runner.ensure()
    } catch (error) {
      const details = isPreviewError(error) ? error.details : []
      b.problem = {
        message: [`The dev server of ${target.name} could not be started: ${(error as Error).message}`, ...details].join('\n'),
        status: 502,
      }
      b.checkedAt = Date.now()
      route.targetPort = this.internalPort
      return
    }

    b.problem = null
    route.targetPort = b.runner.targetPort!
  }

  private async resolveRef(repo: ServedRepo, name: string | null): Promise<ResolvedRef | null> {
    if (name === null) {
      const branch = await defaultBranch(repo.root)
      return branch === null ? null : {branch: true, ref: branch}
    }

    const found = await lookupRef(repo.root, name)
    if (found !== null) return found
    await this.fetchRepo(repo, name)
    return lookupRef(repo.root, name)
  }

  /**
   * `git fetch` for an unknown ref. Requests that arrive while one is pending share it, and fetches of a repository
   * start at least FETCH_INTERVAL_MS apart (a request in between waits for the next one rather than being told 404
   * on stale refs), so made-up names cannot make the host fetch without end.
   */
  private fetchRepo(repo: ServedRepo, name: string): Promise<void> {
    let state = this.fetches.get(repo.root)
    if (!state) {
      state = {at: 0, running: null}
      this.fetches.set(repo.root, state)
    }

    if (state.running) return state.running
    const st = state
    const wait = Math.max(0, st.at + FETCH_INTERVAL_MS - Date.now())
    st.running = new Promise<void>((resolve) => setTimeout(resolve, wait))
      .then(() => {
        st.at = Date.now()
        this.logJson({event: 'fetch', label: repo.label, ref: name})
        return fetchAll(repo.root)
      })
      .then(
        () => {},
        () => {},
      )
      .finally(() => {
        st.running = null
      })
    return st.running
  }

  /** One runner per repository and ref, named for the host name label it was first asked by. */
  private runnerFor(repo: ServedRepo, resolved: ResolvedRef, name: string, port: number | undefined): PreviewRunner {
    const key = `${repo.label ?? ''}\0${repo.root}\0${resolved.ref}`
    let runner = this.runners.get(key)
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
    this.runners.set(key, runner)
    return runner
  }

  private onRunnerEvent(event: RunnerEvent, runner: PreviewRunner): void {
    this.metrics.event(event, runner.spec.label)
    const repo = this.repos.find((r) => r.root === runner.spec.root && r.label === runner.spec.label)
    if (repo) this.writeStatusFiles(repo)
    this.logJson({event, label: runner.spec.label, name: runner.spec.name, ref: runner.spec.ref})
  }

  private onRequest(r: RequestRecord, route: Route | null): void {
    const b = route === null ? undefined : this.routeOf.get(route)
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

  private checkIdle(): void {
    const open = new Map<Route, number>()
    for (const c of this.listener?.connections() ?? []) {
      const route = c.currentRoute
      if (c.upgraded && route) open.set(route, (open.get(route) ?? 0) + 1)
    }

    for (const route of open.keys()) this.routeOf.get(route)?.runner?.keepAwake()
    for (const runner of this.runners.values()) {
      runner.checkIdle(this.opts.idleTtlMs).catch((error: unknown) => runner.event(`idle stop failed: ${(error as Error).message}`))
    }
  }

  /** The JSON status (`GET /-/preview.json`). */
  status(): HostStatus {
    const now = Date.now()
    const subs = [...this.runners.values()].map((r) => r.status(now, this.opts.idleTtlMs))
    return {
      idle_ttl_seconds: Math.round(this.opts.idleTtlMs / 1000),
      running_servers: subs.filter((s) => s.status === 'running').length,
      status: this.closing ? 'stopping' : 'ok',
      sub_servers: subs,
    }
  }

  /** The state of the preview behind a host name, for the "starting" page. */
  runnerStateFor(publicHost: string): {ref: string | null; state: string | null; lines: string[]} {
    const b = this.routes.get(publicHost)?.binding ?? [...this.routes.values()].find((v) => v.route.publicHost === publicHost)?.binding
    const target = b?.target.kind === 'preview' ? b.target : null
    const status = b?.runner?.status()
    return {lines: status?.recent_logs.slice(-5) ?? [], ref: b?.runner?.spec.ref ?? target?.ref ?? null, state: b?.runner?.state ?? null}
  }

  /** Why the host itself answers for a host name (unknown ref, failed start), from the name's route. */
  problemFor(publicHost: string): Binding['problem'] {
    const direct = this.routes.get(publicHost)
    if (direct) return direct.binding.problem
    for (const v of this.routes.values()) if (v.route.publicHost === publicHost) return v.binding.problem
    return null
  }

  /** The Prometheus exposition, with the running gauge set from the runners now. */
  metricsText(): Promise<string> {
    const running = new Map<string | null, number>()
    for (const r of this.repos) running.set(r.label, 0)
    for (const runner of this.runners.values())
      if (runner.state === 'running') running.set(runner.spec.label, (running.get(runner.spec.label) ?? 0) + 1)
    return this.metrics.render(running)
  }

  /** Names cached as not found (or forbidden) may name a repository now. */
  private forgetHostPages(): void {
    for (const [host, v] of this.routes) if (v.binding.repo === null) this.routes.delete(host)
  }

  // --- admin API ---

  async addRepo(spec: RepoSpec): Promise<ServedRepo> {
    if (spec.label === null) throw new InvalidInput('A label is required.', 'POST {"label": "app", "path": "/srv/app"}.')
    if (this.repos.length === 1 && this.repos[0]!.label === null) {
      throw new InvalidInput(
        'This host serves one repository without a label (<ref>.<domain> names); it cannot take a second.',
        'Restart it with LABEL=PATH for each repository.',
      )
    }

    if (this.repos.some((r) => r.label === spec.label))
      throw new InvalidInput(`The label "${spec.label}" is already served.`, 'Remove it first, or pick another label.')
    const repo = await openRepo(spec)
    if (!this.repos.some((r) => r.root === repo.root)) await claimRepo(repo.paths, repo.root)
    this.repos.push(repo)
    this.writeStatusFiles(repo)
    this.forgetHostPages()
    this.persist()
    this.logJson({event: 'repo-add', label: repo.label, path: repo.path})
    return repo
  }

  async removeRepo(label: string): Promise<void> {
    const repo = this.findRepo(label)
    this.repos = this.repos.filter((r) => r !== repo)
    for (const [key, runner] of this.runners) {
      if (runner.spec.root === repo.root && runner.spec.label === repo.label) {
        this.runners.delete(key)
        await runner.stop()
      }
    }

    for (const [host, v] of this.routes) if (v.binding.repo === repo) this.routes.delete(host)
    if (!this.repos.some((r) => r.root === repo.root)) removeHostFile(repo.paths)
    this.forgetHostPages()
    this.persist()
    this.logJson({event: 'repo-remove', label})
  }

  async setPaused(label: string, paused: boolean): Promise<ServedRepo> {
    const repo = this.findRepo(label)
    repo.paused = paused
    if (paused) {
      for (const runner of this.runners.values())
        if (runner.spec.root === repo.root && runner.spec.label === repo.label) await runner.stop().then(() => this.forgetRunner(runner))
      for (const c of this.listener?.connections() ?? []) {
        const b = c.currentRoute ? this.routeOf.get(c.currentRoute) : undefined
        if (b?.repo === repo) c.destroy()
      }
    }

    this.persist()
    this.writeStatusFiles(repo)
    this.logJson({event: paused ? 'repo-pause' : 'repo-resume', label})
    return repo
  }

  private forgetRunner(runner: PreviewRunner): void {
    for (const [key, r] of this.runners) if (r === runner) this.runners.delete(key)
    for (const v of this.routes.values()) if (v.binding.runner === runner) v.binding.runner = null
  }

  findRepo(label: string): ServedRepo {
    const repo = this.repos.find((r) => (r.label ?? '') === label)
    if (!repo) throw new InvalidInput(`No repository is served under the label "${label}".`, 'GET /-/preview/repos lists them.')
    return repo
  }

  private persist(): void {
    if (this.opts.persistRepos !== null) writePersisted(this.opts.persistRepos, this.repos)
  }

  logJson(entry: Record<string, unknown>): void {
    if (this.opts.jsonLogs === null) return
    try {
      appendFileSync(this.opts.jsonLogs, `${JSON.stringify({ts: new Date().toISOString(), ...entry})}\n`, {mode: 0o600})
    } catch {
      // a log that cannot be written must not take the host down
    }
  }

  /**
   * Caddy's on-demand TLS `ask`: would this host serve `domain`? The bare domain (the dashboard), and names it
   * would serve: under the domain, signed when signing is on, of a known label, naming a ref that exists.
   */
  async wouldServe(domain: string): Promise<boolean> {
    const target = parseHost(domain.trim().toLowerCase(), this.rules())
    if (target.kind === 'host') return true
    if (target.kind !== 'preview') return false
    const repo = target.label === null ? this.repos[0] : this.repos.find((r) => r.label === target.label)
    if (!repo) return false
    return (await this.resolveRef(repo, target.ref).catch(() => null)) !== null
  }

  /** Stops every dev server (process groups), then the listener and the internal server. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.caddy?.close()
      this.caddy = null
      if (this.idleTimer) clearInterval(this.idleTimer)
      await Promise.all([...this.runners.values()].map((r) => r.stop()))
      for (const repo of this.repos) removeHostFile(repo.paths)
      await this.listener?.close()
      await new Promise<void>((resolve) => {
        if (!this.internal) return resolve()
        this.internal.close(() => resolve())
        this.internal.closeAllConnections()
      })
    })()
    return this.closing
  }
}
