// `preview serve --caddy`: one route in a running Caddy, through its admin API, for `*.<domain>` and the bare domain,
// proxied to this host's listener (WebSockets and streaming pass). It has the @id `preview-serve-<domain>`, is put
// back within CADDY_CHECK_MS when Caddy loses it (a restart, a config reload), and is removed when the host stops.
// The same admin client as `--provider caddy` (src/core/tunnels/drivers/caddy.ts).
import {addRoute, CADDY_ADMIN_TIMEOUT_MS, CADDY_CHECK_MS, CaddyAdmin, removeRoute} from '../tunnels/drivers/caddy.js'

export interface CaddyEdge {
  readonly id: string
  close(): Promise<void>
}

export function serveRouteId(domain: string): string {
  return `preview-serve-${domain.replaceAll(/[^a-z0-9.-]/gi, '_')}`
}

/** Registers the host's wildcard route; throws (in Caddy's words) when Caddy does not take it. */
export async function registerWithCaddy(opts: {
  adminUrl: string
  domain: string
  dial: string
  server?: string | null
  log?: (line: string) => void
}): Promise<CaddyEdge> {
  const id = serveRouteId(opts.domain)
  const route = {
    '@id': id,
    handle: [{flush_interval: -1, handler: 'reverse_proxy', upstreams: [{dial: opts.dial}]}],
    match: [{host: [`*.${opts.domain}`, opts.domain]}],
    terminal: true,
  }
  const admin = new CaddyAdmin(opts.adminUrl, CADDY_ADMIN_TIMEOUT_MS)
  await removeRoute(admin, id).catch(() => 0) // a route left by a host that was killed
  await addRoute(admin, opts.server ?? null, route, `probe.${opts.domain}`)
  opts.log?.(`Caddy at ${opts.adminUrl}: route ${id} for *.${opts.domain} -> ${opts.dial}`)
  let closed = false
  let inflight: Promise<void> | null = null
  const timer = setInterval(() => {
    if (closed || inflight) return
    inflight = (async () => {
      const {status} = await admin.request('GET', `/id/${encodeURIComponent(id)}`)
      if (!closed && status === 404) {
        await addRoute(admin, opts.server ?? null, route, `probe.${opts.domain}`)
        opts.log?.(`Caddy lost route ${id} (restarted?): added again`)
      }
    })()
      .catch((error: Error) => opts.log?.(`Caddy route check: ${error.message}`))
      .finally(() => {
        inflight = null
      })
  }, CADDY_CHECK_MS)
  timer.unref()
  return {
    async close() {
      closed = true
      clearInterval(timer)
      if (inflight) await inflight
      await removeRoute(admin, id).catch(() => 0)
    },
    id,
  }
}
