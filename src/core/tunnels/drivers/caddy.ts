// caddy: a dynamic edge. Each preview is one route in a running Caddy, added and removed through its admin API.
import http from 'node:http'
import https from 'node:https'
import {InvalidInput, TunnelFailed} from '../../errors.js'
import type {TunnelDriver, TunnelHandle} from '../types.js'
import {fillUrlTemplate} from './template.js'

export const CADDY_DEFAULT_ADMIN_URL = 'http://127.0.0.1:2019'
/** One admin API request gets this long (Caddy applies a config change before it answers). */
export const CADDY_ADMIN_TIMEOUT_MS = 10_000
/** How often a running preview checks its route is still there (a restarted Caddy forgets it): within 10 s. */
export const CADDY_CHECK_MS = 2000
/** Duplicate routes with our id (an add whose answer was lost, then retried) are removed up to this many. */
const MAX_DELETES = 5
/** Lookups + conditional deletes before a removal gives up (each retry means another change got in between). */
const REMOVE_ATTEMPTS = 50
/** Attempts of an add whose connection was reset (see addRoute). */
const ADMIN_ATTEMPTS = 8

export const CADDY_HINT =
  'Check that Caddy runs with its admin API at providers.caddy.admin_url (default http://127.0.0.1:2019) and set providers.caddy.url_template (see docs/edge.md).'

export interface CaddySettings {
  adminUrl: string
  /** The HTTP server (apps.http.servers.<name>) to add routes to; null: the only one there is. */
  server: string | null
  urlTemplate: string
  /** The address Caddy dials for this machine's gateway (`host`, `host:port` or with `{port}`); null: gateway.bind. */
  upstream: string | null
}

/** Validates providers.caddy (admin_url, server, url_template, upstream). */
export function caddySettings(config: Record<string, unknown>): CaddySettings {
  const str = (key: string): string | null => {
    const v = config[key]
    if (v === undefined || v === null || v === '') return null
    if (typeof v !== 'string') throw new InvalidInput(`providers.caddy.${key} must be a string (got ${JSON.stringify(v)}).`)
    return v.trim()
  }

  const adminUrl = (str('admin_url') ?? CADDY_DEFAULT_ADMIN_URL).replace(/\/+$/, '')
  let admin: URL
  try {
    admin = new URL(adminUrl)
  } catch {
    throw new InvalidInput(`providers.caddy.admin_url "${adminUrl}" is not a URL.`, 'For example: http://127.0.0.1:2019')
  }

  if (admin.protocol !== 'http:' && admin.protocol !== 'https:')
    throw new InvalidInput(`providers.caddy.admin_url "${adminUrl}" must be http:// or https://.`)
  const urlTemplate = str('url_template')
  if (!urlTemplate) {
    throw new InvalidInput(
      'providers.caddy.url_template is not set.',
      'Set it to the public URL of a preview, e.g. url_template: https://{id}.preview.example.com (see docs/edge.md).',
    )
  }

  const server = str('server')
  if (server !== null && !/^[\w.-]+$/.test(server)) throw new InvalidInput(`providers.caddy.server "${server}" is not a server name.`)
  const upstream = str('upstream')
  if (upstream !== null && !/^(\[[0-9a-fA-F:.]+\]|[\w.-]+)(:(\d+|\{port\}))?$/.test(upstream)) {
    throw new InvalidInput(
      `providers.caddy.upstream "${upstream}" is not a host or host:port.`,
      'For example: upstream: 10.0.0.5 (the gateway port is added) or 10.0.0.5:{port}.',
    )
  }

  return {adminUrl, server, upstream, urlTemplate}
}

/** The route's `@id`: how it is found and removed, never by position. */
export function routeId(previewId: string): string {
  return `preview-${previewId}`
}

/** The address Caddy dials: `upstream` with the port added (or filled in), else where the gateway listens. */
export function dialAddress(upstream: string | null, localUrl: string, gatewayPort: number): string {
  if (!upstream) return new URL(localUrl).host
  if (upstream.includes('{port}')) return upstream.replaceAll('{port}', String(gatewayPort))
  // caddySettings only lets through `name`, `a.b.c.d`, `[v6]`, each with an optional `:port`.
  return /:\d+$/.test(upstream) ? upstream : `${upstream}:${gatewayPort}`
}

/** One preview's route: its host name, proxied to its gateway, streaming (no flush delay); WebSockets pass as is. */
export function caddyRoute(id: string, host: string, dial: string): Record<string, unknown> {
  return {
    '@id': id,
    handle: [{flush_interval: -1, handler: 'reverse_proxy', upstreams: [{dial}]}],
    match: [{host: [host]}],
    terminal: true,
  }
}

type Json = Record<string, unknown>
/** Handlers that answer the request themselves: a route of them ends the chain. */
const RESPONDERS = new Set(['static_response', 'reverse_proxy', 'file_server', 'error', 'php_fastcgi'])

/** True when a Caddy host pattern (exact or `*.domain`, one label) covers the name. */
function hostCovers(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase()
  if (p === host) return true
  if (!p.startsWith('*.')) return false
  const suffix = p.slice(1)
  return host.endsWith(suffix) && !host.slice(0, -suffix.length).includes('.')
}

/**
 * True when an existing route would answer every request for `host` before a route appended after it could:
 * no matcher (or a host matcher that covers the name) and terminal, or ending in a handler that responds.
 * A route with other matchers (path, header) catches only some requests and does not count.
 */
export function shadowsHost(route: Json, host: string): boolean {
  const sets = Array.isArray(route.match) ? (route.match as Json[]) : []
  const matchesAll =
    sets.length === 0 ||
    sets.some((set) => {
      const keys = Object.keys(set ?? {})
      if (keys.length === 0) return true
      return (
        keys.length === 1 &&
        keys[0] === 'host' &&
        Array.isArray(set.host) &&
        (set.host as unknown[]).some((p) => typeof p === 'string' && hostCovers(p, host))
      )
    })
  if (!matchesAll) return false
  const handlers = Array.isArray(route.handle) ? (route.handle as Json[]) : []
  return route.terminal === true || handlers.some((h) => typeof h?.handler === 'string' && RESPONDERS.has(h.handler))
}

/** An admin API failure: Caddy's own words when it answered, the network error when it did not. */
export class CaddyAdminError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message)
  }
}

export interface AdminAnswer {
  status: number
  json: unknown
  /** `"<config path> <hash>"` on GETs: where the object is now, and a hash of it. */
  etag: string | null
}

/** Caddy's error text from an answer. */
function caddyWords(answer: AdminAnswer): string {
  const {json} = answer
  const words = json && typeof json === 'object' && 'error' in json ? String((json as {error: unknown}).error) : String(json ?? '').trim()
  return `Caddy said (HTTP ${answer.status}): ${words || 'no reason given'}`
}

/** A small client for Caddy's admin API (JSON in, JSON out, errors in Caddy's words). */
export class CaddyAdmin {
  constructor(
    readonly adminUrl: string,
    private readonly timeoutMs = CADDY_ADMIN_TIMEOUT_MS,
  ) {}

  /**
   * One request on a connection of its own: Caddy closes admin connections after a config change, so a pooled
   * keep-alive socket (fetch's default) fails the next request with "other side closed" (seen in bench/edge.mjs).
   */
  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<AdminAnswer> {
    const url = new URL(`${this.adminUrl}${path}`)
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const client = url.protocol === 'https:' ? https : http
    return new Promise((resolve, reject) => {
      const req = client.request(
        url,
        {
          agent: false,
          headers: {
            ...headers,
            ...(payload === undefined ? {} : {'content-length': String(Buffer.byteLength(payload)), 'content-type': 'application/json'}),
          },
          method,
          timeout: this.timeoutMs,
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (text += chunk))
          res.on('error', (error) =>
            reject(new CaddyAdminError(`Caddy's admin API at ${this.adminUrl} broke off its answer (${error.message})`, null)),
          )
          res.on('end', () => {
            let json: unknown
            try {
              json = text === '' ? null : JSON.parse(text)
            } catch {
              json = text
            }

            // Caddy sends a GET's ETag ("<path> <hash>") as a trailer, after the body.
            const etag = res.trailers.etag ?? (typeof res.headers.etag === 'string' ? res.headers.etag : null)
            resolve({etag, json, status: res.statusCode ?? 0})
          })
        },
      )
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs / 1000}s`), {code: 'ETIMEDOUT'})))
      req.on('error', (error: NodeJS.ErrnoException) => {
        reject(new CaddyAdminError(`could not reach Caddy's admin API at ${this.adminUrl} (${error.code ?? error.message})`, null))
      })
      req.end(payload)
    })
  }

  /** Like request(), but a non-2xx answer throws with Caddy's error text. */
  async ok(method: string, path: string, body?: unknown): Promise<unknown> {
    const answer = await this.request(method, path, body)
    if (answer.status >= 200 && answer.status < 300) return answer.json
    throw new CaddyAdminError(caddyWords(answer), answer.status)
  }
}

/** The HTTP server to add to: the named one, else the only one; an error naming what exists otherwise. */
export async function findServer(admin: CaddyAdmin, wanted: string | null): Promise<{name: string; routes: Json[]}> {
  const servers = ((await admin.ok('GET', '/config/apps/http/servers')) ?? {}) as Record<string, Json>
  const names = Object.keys(servers)
  let name: string
  if (wanted) {
    if (!servers[wanted]) {
      throw new CaddyAdminError(
        `Caddy has no HTTP server named "${wanted}" (it has: ${names.length > 0 ? names.join(', ') : 'none'}).`,
        null,
      )
    }

    name = wanted
  } else if (names.length === 1) {
    name = names[0]!
  } else {
    throw new CaddyAdminError(
      names.length === 0
        ? 'Caddy has no HTTP server to add the route to (apps.http.servers is empty).'
        : `Caddy has ${names.length} HTTP servers (${names.join(', ')}): set providers.caddy.server to one of them.`,
      null,
    )
  }

  const routes = servers[name]!.routes
  return {name, routes: Array.isArray(routes) ? (routes as Json[]) : []}
}

/**
 * Adds the route without touching any other: appended (`POST .../routes/...`, which Caddy applies under its
 * config lock, so concurrent adds from many hosts all land), or, when an existing route would answer the host
 * first (a catch-all or a wildcard site), inserted at index 0 (`PUT .../routes/0`; a fixed index, never one
 * read earlier, so it cannot go stale). Returns where it went.
 */
export async function addRoute(
  admin: CaddyAdmin,
  server: string | null,
  route: Json,
  host: string,
): Promise<{server: string; at: 'end' | 'start'}> {
  const id = String(route['@id'])
  for (let attempt = 1; ; attempt += 1) {
    try {
      const found = await findServer(admin, server)
      const base = `/config/apps/http/servers/${encodeURIComponent(found.name)}/routes`
      const at = found.routes.some((r) => shadowsHost(r, host)) ? 'start' : 'end'
      await (at === 'start' ? admin.ok('PUT', `${base}/0`, route) : admin.ok('POST', `${base}/...`, [route]))
      return {at, server: found.name}
    } catch (error) {
      // Caddy restarts its admin listener on each config change, so with many changes in flight a connection can
      // be reset. Only such a network error is retried, and only once the route is known not to have landed.
      if (!(error instanceof CaddyAdminError) || error.status !== null || attempt >= ADMIN_ATTEMPTS) throw error
      await pause(attempt)
      const landed = await admin.request('GET', `/id/${encodeURIComponent(id)}`).catch(() => null)
      if (landed?.status === 200) return {at: 'end', server: server ?? 'the only one'}
    }
  }
}

/** A short, growing, random pause between attempts (many hosts retrying must not move in step). */
function pause(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, 10 + Math.random() * 25 * Math.min(attempt, 10)))
}

/**
 * Removes every route with this `@id`, and nothing else. Not `DELETE /id/<id>`: Caddy maps the id to an index
 * (`.../routes/42`) before it takes its config lock, so a concurrent change (another host's route removed) can
 * shift the list in between and the delete hits a neighbour's route (seen in bench/edge.mjs with 50 removals in
 * flight: "array index out of bounds", and with fewer, the wrong route gone). Instead: look the id up (GET
 * /id/<id>, whose ETag names the path and a hash of the route) and delete that path with `If-Match`, which Caddy
 * checks under its lock; when the route has moved (412, or the index is gone), look again. Resolves with how
 * many went.
 */
export async function removeRoute(admin: CaddyAdmin, id: string): Promise<number> {
  let removed = 0
  let lastRefusal = ''
  for (let attempt = 0; attempt < REMOVE_ATTEMPTS && removed < MAX_DELETES; attempt += 1) {
    const found = await admin.request('GET', `/id/${encodeURIComponent(id)}`).catch((error: Error) => error)
    if (found instanceof Error) {
      // A reset connection (Caddy restarts its admin listener on each change): look again; a lasting error throws.
      if (attempt >= ADMIN_ATTEMPTS) throw found
      lastRefusal = found.message
      await pause(attempt + 1)
      continue
    }

    if (found.status === 404) return removed
    // The same race hits the lookup: the id resolved to an index a concurrent change just removed. Look again.
    if (found.status === 400 && /index out of bounds/.test(caddyWords(found)) && attempt + 1 < REMOVE_ATTEMPTS) {
      lastRefusal = caddyWords(found)
      await pause(attempt + 1)
      continue
    }

    if (found.status < 200 || found.status >= 300) throw new CaddyAdminError(caddyWords(found), found.status)
    // The lookup can answer with the neighbour that slid into our route's old index while a concurrent change was
    // applied: its ETag would match, and deleting by it would take that other preview's route. Look again.
    const foundId = found.json && typeof found.json === 'object' ? (found.json as Record<string, unknown>)['@id'] : undefined
    if (foundId !== id) {
      lastRefusal = `the lookup of ${id} answered with ${String(foundId)}`
      await pause(attempt + 1)
      continue
    }
    const at = found.etag ? /^"(\/config\/\S+) [0-9a-f]+"$/.exec(found.etag)?.[1] : undefined
    const gone = await (
      at ? admin.request('DELETE', at, undefined, {'if-match': found.etag!}) : admin.request('DELETE', `/id/${encodeURIComponent(id)}`)
    ).catch((error: Error) => ({etag: null, json: {error: error.message}, status: 0}))
    if (gone.status >= 200 && gone.status < 300) {
      removed += 1
      continue
    }

    // Moved since we looked (412), or its index no longer exists: look again, after a short random pause.
    lastRefusal = caddyWords(gone)
    await pause(attempt + 1)
  }

  if (removed >= MAX_DELETES) return removed
  throw new CaddyAdminError(`route ${id} could not be removed after ${REMOVE_ATTEMPTS} tries (${lastRefusal})`, null)
}

/** Removes a preview's route given only its id and the config (`preview stop` after its supervisor died). */
export async function removePreviewRoute(config: Record<string, unknown>, previewId: string): Promise<number> {
  const adminUrl =
    typeof config.admin_url === 'string' && config.admin_url !== '' ? config.admin_url.replace(/\/+$/, '') : CADDY_DEFAULT_ADMIN_URL
  return removeRoute(new CaddyAdmin(adminUrl), routeId(previewId))
}

/** `caddy`: a route per preview in a running Caddy; checked every CADDY_CHECK_MS and put back when Caddy lost it. */
export const caddyDriver: TunnelDriver = {
  name: 'caddy',
  async available({config}) {
    return typeof config.url_template === 'string' && config.url_template !== ''
      ? {detail: String(config.admin_url ?? CADDY_DEFAULT_ADMIN_URL), ok: true}
      : {hint: 'set providers.caddy.url_template (and admin_url) in .sdd/preview.yaml (see docs/edge.md)', ok: false}
  },
  async open(opts) {
    const settings = caddySettings(opts.config)
    const previewId = opts.previewId ?? 'preview'
    const publicUrl = fillUrlTemplate(
      settings.urlTemplate,
      {id: previewId, port: opts.gatewayPort, ref: opts.ref ?? null},
      'providers.caddy.url_template',
    )
    const host = new URL(publicUrl).hostname
    const id = routeId(previewId)
    const dial = dialAddress(settings.upstream, opts.localUrl, opts.gatewayPort)
    const route = caddyRoute(id, host, dial)
    const admin = new CaddyAdmin(settings.adminUrl, opts.timeoutMs ?? CADDY_ADMIN_TIMEOUT_MS)
    const log = (line: string) => opts.log?.(`[caddy] ${line}`)
    const fail = (error: unknown): never => {
      throw new TunnelFailed('caddy', 'error', `Caddy did not take the route for ${host}: ${(error as Error).message}`, CADDY_HINT)
    }

    try {
      const placed = await addRoute(admin, settings.server, route, host)
      log(
        `route ${id} added to server ${placed.server} (${placed.at === 'end' ? 'appended' : 'inserted first: a route before it answered this host'}): ${host} -> ${dial}`,
      )
    } catch (error) {
      // The answer may have been lost after Caddy applied it: leave nothing behind.
      await removeRoute(admin, id).catch(() => 0)
      fail(error)
    }

    let closed = false
    let inflight: Promise<void> | null = null
    let lastProblem = ''
    const problem = (text: string) => {
      if (text !== lastProblem) log(text)
      lastProblem = text
    }

    const check = async () => {
      const {status} = await admin.request('GET', `/id/${encodeURIComponent(id)}`)
      if (closed) return
      if (status === 404) {
        const placed = await addRoute(admin, settings.server, route, host)
        log(`route ${id} was missing (Caddy restarted or its config was replaced): added again to ${placed.server}`)
      } else if (status < 200 || status >= 300) {
        throw new CaddyAdminError(`checking route ${id}: HTTP ${status}`, status)
      }

      lastProblem = ''
    }

    const timer = setInterval(() => {
      if (closed || inflight) return
      inflight = check()
        .catch((error: Error) => problem(`route check: ${error.message} (retrying every ${CADDY_CHECK_MS / 1000}s)`))
        .finally(() => {
          inflight = null
        })
    }, CADDY_CHECK_MS)
    timer.unref()

    let closing: Promise<void> | null = null
    const handle: TunnelHandle = {
      close() {
        closing ??= (async () => {
          closed = true
          clearInterval(timer)
          // A check that found the route missing may be adding it back right now: let it finish, then remove.
          if (inflight) await inflight
          const removed = await removeRoute(admin, id)
          log(`route ${id} removed${removed > 1 ? ` (${removed} copies)` : ''}`)
        })()
        return closing
      },
      name: id,
      onExit() {},
      pid: null,
      publicUrl,
    }
    return handle
  },
}
