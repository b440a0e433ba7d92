// What the host answers itself, behind its own route: the status JSON, the dashboard, metrics and the admin API on
// the bare domain, and the 403/404/502/503 pages of names it will not or cannot serve. The gateway in front tells
// it the client's host (X-Preview-Public-Host, which clients cannot set) and address (the last X-Forwarded-For).
import {timingSafeEqual} from 'node:crypto'
import type http from 'node:http'
import {InvalidInput, isPreviewError} from '../errors.js'
import {parseDuration} from '../preview/duration.js'
import {PUBLIC_HOST_HEADER} from '../gateway/index.js'
import {dashboardHtml} from './dashboard.js'
import type {Host} from './host.js'
import {checkLabel, parseHost, signName, type HostTarget} from './names.js'

const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')

/** The longest a token link may live (as `max_expire`'s default for `preview start`). */
const MAX_LINK_SECONDS = 24 * 3600
/** Largest admin request body read. */
const MAX_BODY = 64 * 1024

function send(
  res: http.ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), 'content-type': type, ...extra})
  res.end(body)
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, `${JSON.stringify(value, null, 2)}\n`, 'application/json; charset=utf-8')
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The client's address as the gateway saw it: the last X-Forwarded-For entry (the gateway appends it). */
export function peerAddress(req: http.IncomingMessage): string {
  const xff = req.headers['x-forwarded-for']
  const value = Array.isArray(xff) ? xff.join(',') : (xff ?? '')
  return value.split(',').pop()?.trim() ?? ''
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.')
}

/**
 * A request made on this machine, not relayed: its peer is loopback and no proxy forwarded it (a Caddy or nginx
 * in front connects from loopback too, so a request it relays, which carries its client's X-Forwarded-For,
 * Forwarded or X-Real-IP, is not local).
 */
export function isLocalRequest(req: http.IncomingMessage): boolean {
  const xff = req.headers['x-forwarded-for']
  const hops = (Array.isArray(xff) ? xff.join(',') : (xff ?? '')).split(',').filter((h) => h.trim() !== '')
  if (hops.length !== 1 || req.headers.forwarded !== undefined || req.headers['x-real-ip'] !== undefined) return false
  return isLoopback(peerAddress(req))
}

/** Admin and status need the admin secret (Bearer) or the basic credentials; with neither configured, local requests. */
export function adminAllowed(host: Pick<Host, 'opts'>, req: http.IncomingMessage): boolean {
  const {adminSecret, basicAuth} = host.opts
  const auth = req.headers.authorization ?? ''
  if (adminSecret === null && basicAuth === null) return isLocalRequest(req)
  if (adminSecret !== null && /^bearer /i.test(auth) && safeEqual(auth.slice(7).trim(), adminSecret)) return true
  if (basicAuth !== null && /^basic /i.test(auth)) return safeEqual(Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8'), basicAuth)
  return false
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new Error('request body too large')
    chunks.push(chunk as Buffer)
  }

  const text = Buffer.concat(chunks).toString('utf8')
  const value: unknown = text.trim() === '' ? {} : JSON.parse(text)
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the body must be a JSON object')
  return value as Record<string, unknown>
}

function reposView(host: Host) {
  return {repos: host.servedRepos.map((r) => ({label: r.label, path: r.path, paused: r.paused, root: r.root}))}
}

/**
 * Caddy's on-demand TLS check, whatever host name it was sent to (Caddy asks on its own, with no secret): 200 only
 * for names this host would serve, so certificates are issued for real previews only.
 */
async function tlsAsk(host: Host, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const domain = new URL(req.url ?? '/', 'http://host').searchParams.get('domain') ?? ''
  const ok = domain !== '' && (await host.wouldServe(domain))
  send(res, ok ? 200 : 403, ok ? 'ok\n' : `${domain === '' ? 'No ?domain= given' : `${domain} is not a name this host serves`}.\n`)
}

/** A preview name the host answers for: paused (503), its problem (unknown ref, failed start), or "starting…". */
function previewPage(host: Host, target: Extract<HostTarget, {kind: 'preview'}>, publicHost: string, res: http.ServerResponse): void {
  const repo = target.label === null ? host.servedRepos[0] : host.servedRepos.find((r) => r.label === target.label)
  if (repo?.paused) {
    const message = `The repository "${repo.label ?? repo.path}" is paused; its previews are not served until it is resumed.\n`
    send(res, 503, message, undefined, {'retry-after': '30'})
    return
  }

  const problem = host.problemFor(publicHost)
  if (problem !== null) {
    send(res, problem.status, `${problem.message}\n`)
    return
  }

  // The preview is starting (a browser was sent here instead of waiting): a page that reloads until it is up.
  const {lines, ref, state} = host.runnerStateFor(publicHost)
  const what = ref ?? 'the default branch'
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="1"><title>Starting ${esc(what)}…</title></head><body style="font:16px system-ui,sans-serif;margin:3em"><h1>Starting ${esc(what)}…</h1><p>${esc(state ?? 'starting')}: this page reloads by itself once the dev server is up.</p><pre style="color:#666">${esc(lines.join('\n'))}</pre></body></html>\n`
  send(res, 503, html, 'text/html; charset=utf-8', {refresh: '1', 'retry-after': '1'})
}

export async function handleHostRequest(host: Host, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method === 'GET' && (req.url ?? '').startsWith('/-/preview/tls-ask')) return tlsAsk(host, req, res)
  const publicHost = String(req.headers[PUBLIC_HOST_HEADER.toLowerCase()] ?? '')
  const target = parseHost(publicHost, host.rules())
  switch (target.kind) {
    case 'forbidden':
    case 'not-found': {
      send(res, target.kind === 'forbidden' ? 403 : 404, `${target.reason}\n`)
      return
    }

    case 'preview': {
      previewPage(host, target, publicHost, res)
      return
    }

    case 'host': {
      await hostEndpoint(host, req, res)
    }
  }
}

/** A bare-domain request without the admin credentials: 401 with a challenge, or 403 off loopback when none are configured. */
function refuseAdmin(host: Host, res: http.ServerResponse): void {
  const configured = host.opts.adminSecret !== null || host.opts.basicAuth !== null
  const challenge: Record<string, string> =
    host.opts.basicAuth === null
      ? {'www-authenticate': 'Bearer realm="preview host"'}
      : {'www-authenticate': 'Basic realm="preview host", charset="UTF-8"'}
  send(
    res,
    configured ? 401 : 403,
    configured
      ? 'The admin secret (Authorization: Bearer) or the basic credentials are needed.\n'
      : 'Without --admin-secret or --basic-auth the status and admin API answer on loopback only.\n',
    undefined,
    configured ? challenge : {},
  )
}

/** GET /-/preview: the HTML dashboard, each preview linked by the name it is reached at. */
function sendDashboard(host: Host, res: http.ServerResponse): void {
  const html = dashboardHtml(host.status(), reposView(host).repos, (name) =>
    host.publicUrl(host.opts.secret === null ? name : signName(host.opts.secret, name)),
  )
  send(res, 200, html, 'text/html; charset=utf-8')
}

/** The admin calls take a JSON object body; null (answered already) when the request has none. */
async function jsonBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<Record<string, unknown> | null> {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    sendJson(res, 415, {error: {message: 'Send the body as application/json.'}})
    return null
  }

  try {
    return await readJson(req)
  } catch (error) {
    sendJson(res, 400, {error: {message: `Bad request body: ${(error as Error).message}`}})
    return null
  }
}

/** An admin call that failed: 400 for bad input (exit code 2 in the CLI), 500 for the host's own failures. */
function sendAdminError(res: http.ServerResponse, error: unknown): void {
  const status = isPreviewError(error) && error.exitCode !== 2 ? 500 : 400
  sendJson(res, status, {error: {hint: isPreviewError(error) ? error.hint : undefined, message: (error as Error).message}})
}

/** POST /-/preview/repos/{add,remove,pause,resume}: the repository list after the change. */
async function reposAction(host: Host, action: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await jsonBody(req, res)
  if (body === null) return
  const label = typeof body.label === 'string' ? body.label : ''
  try {
    if (action === 'add') {
      if (typeof body.path !== 'string' || body.path === '') throw new Error('"path" is required')
      await host.addRepo({label: checkLabel(label), path: body.path})
    } else if (action === 'remove') {
      await host.removeRepo(label)
    } else {
      await host.setPaused(label, action === 'pause')
    }

    sendJson(res, 200, reposView(host))
  } catch (error) {
    sendAdminError(res, error)
  }
}

/** POST /-/preview/share and /-/preview/revoke: token links of a served name. */
async function linksAction(host: Host, action: 'share' | 'revoke', req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    sendJson(res, 415, {error: {message: 'Send the body as application/json.'}})
    return
  }

  try {
    const body = await readJson(req)
    const name = typeof body.name === 'string' ? body.name : ''
    if (action === 'share') {
      const seconds = parseDuration(typeof body.expire === 'string' ? body.expire : '4h', 'expire')
      if (seconds > MAX_LINK_SECONDS) throw new InvalidInput(`expire is at most ${MAX_LINK_SECONDS / 3600}h.`)
      sendJson(res, 200, await host.share(name, seconds))
    } else {
      sendJson(res, 200, host.revoke(name, typeof body.jti === 'string' ? body.jti : null))
    }
  } catch (error) {
    sendAdminError(res, error)
  }
}

/** The bare domain: everything under /-/preview needs the admin credentials (or loopback, with none configured). */
async function hostEndpoint(host: Host, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://host')
  if (!url.pathname.startsWith('/-/preview')) {
    send(res, 404, `This is the preview host. Previews are served at <name>.${host.opts.domain}; the dashboard is /-/preview.\n`)
    return
  }

  if (!adminAllowed(host, req)) return refuseAdmin(host, res)
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /-/preview.json': {
      return sendJson(res, 200, host.status())
    }

    case 'GET /-/preview':
    case 'GET /-/preview/': {
      return sendDashboard(host, res)
    }

    case 'GET /-/preview/metrics': {
      return send(res, 200, await host.metricsText(), host.metrics.registry.contentType)
    }

    case 'GET /-/preview/repos': {
      return sendJson(res, 200, reposView(host))
    }

    case 'POST /-/preview/repos/add':
    case 'POST /-/preview/repos/remove':
    case 'POST /-/preview/repos/pause':
    case 'POST /-/preview/repos/resume': {
      return reposAction(host, url.pathname.slice('/-/preview/repos/'.length), req, res)
    }

    case 'POST /-/preview/share':
    case 'POST /-/preview/revoke': {
      return linksAction(host, url.pathname.endsWith('/share') ? 'share' : 'revoke', req, res)
    }

    default: {
      send(
        res,
        404,
        'Unknown endpoint. GET /-/preview.json, /-/preview, /-/preview/metrics, /-/preview/repos; POST /-/preview/repos/{add,remove,pause,resume}, /-/preview/share, /-/preview/revoke.\n',
      )
    }
  }
}
