// The host's router: one gateway route per host name, made on first sight and remembered. A preview's route
// resolves its ref and starts (or wakes) its runner in `ensureUpstream`, which the gateway awaits before the
// connection's first upstream connect; names the host answers itself (the bare domain, 403/404/503 pages) route
// to its internal server.
import {isPreviewError} from '../errors.js'
import {makeRoute, setRoutePublicUrl, type GatewayAuth, type Route} from '../gateway/index.js'
import type {RequestHead} from '../gateway/parse.js'
import type {LinkRecord} from '../records/types.js'
import {hostName, parseHost, type HostTarget} from './names.js'
import type {ResolvedRef, ServedRepo} from './repos.js'
import type {PreviewRunner} from './runner.js'
import type {HostState} from './state.js'

/** Hosts whose route is remembered; past this the ones with no preview behind them are forgotten. */
const ROUTE_CACHE_MAX = 2048
/** A name found unknown (after a fetch) is answered 404 from memory for this long before it is looked up again. */
export const UNKNOWN_REF_FETCH_MS = 2000
/** A failed start is tried again by a request at most this often. */
export const RETRY_FAILED_START_MS = 5000

type PreviewTarget = Extract<HostTarget, {kind: 'preview'}>

/** Why a name cannot be served (unknown ref, failed start, paused): the host's own page says so. */
export type Problem = {status: number; message: string} | null

/** What a host name's route leads to. */
export interface Binding {
  host: string
  target: HostTarget
  /** For a preview: the repository and, once resolved, the runner. */
  repo: ServedRepo | null
  runner: PreviewRunner | null
  problem: Problem
  checkedAt: number
  /** The "starting" page's route (same auth as the preview's), made on first use. */
  startingRoute?: Route
  /** The port picked for the dev server when this route was made (its targetPort until the runner says). */
  port?: number | undefined
}

export interface RouteDeps {
  state: HostState
  routeAuth(name: string, repo: ServedRepo): GatewayAuth
  resolveRef(repo: ServedRepo, name: string | null): Promise<ResolvedRef | null>
  runnerFor(repo: ServedRepo, resolved: ResolvedRef, name: string, port: number | undefined): PreviewRunner
  takePort(): number | undefined
}

/** A browser loading a page (not a script, a fetch or a WebSocket): it may be shown the "starting" page. */
function isBrowserNavigation(head: RequestHead): boolean {
  if (head.method !== 'GET' || head.upgrade !== null) return false
  const accept = head.headers.find(([k]) => k.toLowerCase() === 'accept')?.[1] ?? ''
  return accept.includes('text/html')
}

const pausedProblem = (repo: ServedRepo): Problem => ({message: `The repository "${repo.label ?? repo.path}" is paused.`, status: 503})

export class RouteTable {
  private readonly routes = new Map<string, {route: Route; binding: Binding}>()
  private readonly routeOf = new WeakMap<Route, Binding>()

  constructor(private readonly deps: RouteDeps) {}

  bindingOf(route: Route): Binding | undefined {
    return this.routeOf.get(route)
  }

  /**
   * The listener's router. A browser navigating to a preview that is not up yet gets the host's small
   * auto-refreshing "starting" page (behind the same auth) while the start runs; other clients wait for it.
   */
  resolve(header: string | null, head?: RequestHead): Route | null {
    const route = this.lookup(header)
    if (route === null || head === undefined || !isBrowserNavigation(head)) return route
    const b = this.routeOf.get(route)
    if (!b || b.target.kind !== 'preview' || b.repo === null || b.problem !== null || b.runner?.state === 'running') return route
    void this.ensureUpstream(route, b).catch(() => {}) // the start runs now; the page refreshes until it is up
    if (!b.startingRoute) {
      b.startingRoute = makeRoute(this.deps.routeAuth(b.target.name, b.repo), this.deps.state.internalPort)
      this.setPublicUrl(b.startingRoute, b.host)
      this.routeOf.set(b.startingRoute, b)
    }

    return b.startingRoute
  }

  /** The binding behind a public host name (the key, or a route whose public host it is). */
  private find(publicHost: string): Binding | undefined {
    const direct = this.routes.get(publicHost)
    if (direct) return direct.binding
    for (const v of this.routes.values()) if (v.route.publicHost === publicHost) return v.binding
    return undefined
  }

  /** The state of the preview behind a host name, for the "starting" page. */
  runnerStateFor(publicHost: string): {ref: string | null; state: string | null; lines: string[]} {
    const b = this.find(publicHost)
    const target = b?.target.kind === 'preview' ? b.target : null
    const status = b?.runner?.status()
    return {lines: status?.recent_logs.slice(-5) ?? [], ref: b?.runner?.spec.ref ?? target?.ref ?? null, state: b?.runner?.state ?? null}
  }

  /** Why the host itself answers for a host name (unknown ref, failed start), from the name's route. */
  problemFor(publicHost: string): Problem {
    return this.find(publicHost)?.problem ?? null
  }

  /** Names cached as not found (or forbidden) may name a repository now. */
  forgetHostPages(): void {
    for (const [host, v] of this.routes) if (v.binding.repo === null) this.routes.delete(host)
  }

  /** A removed repository's names route no more. */
  dropRepo(repo: ServedRepo): void {
    for (const [host, v] of this.routes) if (v.binding.repo === repo) this.routes.delete(host)
  }

  /** A stopped runner is made again by the next request. */
  forgetRunner(runner: PreviewRunner): void {
    for (const v of this.routes.values()) if (v.binding.runner === runner) v.binding.runner = null
  }

  /** New links of a name reach its routes (the "starting" page's too). */
  setLinks(repo: ServedRepo, name: string, links: LinkRecord[]): void {
    for (const {binding, route} of this.routes.values()) {
      if (binding.repo !== repo || binding.target.kind !== 'preview' || binding.target.name !== name) continue
      route.authority.setLinks(links)
      binding.startingRoute?.authority.setLinks(links)
    }
  }

  /** A route per host name, made on first sight (sync; refs resolve in ensureUpstream). */
  private lookup(header: string | null): Route | null {
    const key = (header ?? '').trim().toLowerCase()
    const known = this.routes.get(key)
    if (known) {
      const b = known.binding
      // A paused repository's names answer 503 from the host; resumed, the preview's route serves again.
      if (b.repo !== null && b.repo.paused) return this.pausedRoute(key, b.target, b.repo)
      if (b.target.kind === 'preview' && b.repo !== null && !this.deps.state.repos.includes(b.repo)) {
        this.routes.delete(key)
      } else {
        return known.route
      }
    }

    const target = parseHost(header, this.deps.state.rules())
    if (hostName(header) === null) return null
    if (target.kind !== 'preview') return this.internalRoute(key, target)
    const repo = this.deps.state.repoFor(target.label)!
    if (repo.paused) return this.pausedRoute(key, target, repo)
    const binding: Binding = {checkedAt: 0, host: key, port: this.deps.takePort(), problem: null, repo, runner: null, target}
    const route = makeRoute(this.deps.routeAuth(target.name, repo), binding.port ?? 0, {
      ensureUpstream: () => this.ensureUpstream(route, binding),
      onActivity: () => binding.runner?.touch(),
    })
    this.bind(key, route, binding)
    return route
  }

  private internalRoute(host: string, target: HostTarget): Route {
    const route = makeRoute({jwtKey: new Uint8Array(32), links: [], mode: 'none', previewId: 'serve-host'}, this.deps.state.internalPort)
    this.bind(host, route, {checkedAt: Date.now(), host, problem: null, repo: null, runner: null, target})
    return route
  }

  /** A host page for a paused repository's name: not remembered, so the name serves again once resumed. */
  private pausedRoute(host: string, target: HostTarget, repo: ServedRepo): Route {
    const route = makeRoute({jwtKey: new Uint8Array(32), links: [], mode: 'none', previewId: 'serve-host'}, this.deps.state.internalPort)
    this.setPublicUrl(route, host)
    this.routeOf.set(route, {checkedAt: Date.now(), host, problem: pausedProblem(repo), repo: null, runner: null, target})
    return route
  }

  private setPublicUrl(route: Route, host: string): void {
    try {
      setRoutePublicUrl(route, `${this.deps.state.opts.publicScheme}://${host}`)
    } catch {
      // a Host header URL cannot hold: no public host for this route
    }
  }

  private bind(host: string, route: Route, binding: Binding): void {
    this.setPublicUrl(route, host)
    if (this.routes.size >= ROUTE_CACHE_MAX) {
      for (const [k, v] of this.routes) if (v.binding.runner === null) this.routes.delete(k)
    }

    this.routes.set(host, {binding, route})
    this.routeOf.set(route, binding)
  }

  /** The host answers for a name itself (its problem page). */
  private toHostPage(route: Route, b: Binding, problem: Problem): void {
    if (problem !== null) {
      b.problem = problem
      b.checkedAt = Date.now()
    }

    route.targetPort = this.deps.state.internalPort
  }

  /** Before a connection's first upstream connect: the ref resolved (fetched once when unknown), the runner up. */
  private async ensureUpstream(route: Route, b: Binding): Promise<void> {
    const target = b.target as PreviewTarget
    if (b.runner === null && !(await this.makeRunner(route, b, target))) return
    const runner = b.runner!
    // A start that just failed is not tried again for every request (a browser reloading, a page's assets).
    if (runner.state === 'crashed' && b.problem !== null && Date.now() - b.checkedAt < RETRY_FAILED_START_MS)
      return this.toHostPage(route, b, null)
    try {
      await runner.ensure()
    } catch (error) {
      const details = isPreviewError(error) ? error.details : []
      const message = [`The dev server of ${target.name} could not be started: ${(error as Error).message}`, ...details].join('\n')
      return this.toHostPage(route, b, {message, status: 502})
    }

    b.problem = null
    route.targetPort = runner.targetPort!
  }

  /** Resolves the name's ref and makes its runner; false when there is none (the route then leads to a host page). */
  private async makeRunner(route: Route, b: Binding, target: PreviewTarget): Promise<boolean> {
    const repo = b.repo!
    if (b.problem !== null && Date.now() - b.checkedAt < UNKNOWN_REF_FETCH_MS) {
      this.toHostPage(route, b, null)
      return false
    }

    let resolved: ResolvedRef | null
    try {
      resolved = await this.deps.resolveRef(repo, target.ref)
    } catch (error) {
      this.toHostPage(route, b, {message: (error as Error).message, status: 404})
      return false
    }

    if (resolved === null) {
      const message = `No branch, tag or commit "${target.ref ?? '(default branch)'}" in ${repo.label ?? repo.path} (after git fetch).`
      this.toHostPage(route, b, {message, status: 404})
      return false
    }

    b.checkedAt = Date.now()
    b.problem = null
    b.runner = this.deps.runnerFor(repo, resolved, target.name, b.port)
    b.runner.touch()
    return true
  }
}
