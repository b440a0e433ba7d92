// A bounded reachability probe for a fresh public URL: it may wait and warn, it never fails a start.
import {Resolver} from 'node:dns/promises'
import {isIP} from 'node:net'

/** The longest the probe may delay the link. */
export const PROBE_TIMEOUT_MS = 8000
/** Pause between attempts (quick-tunnel hostnames resolve a few seconds after they are printed). */
export const PROBE_INTERVAL_MS = 750
/** One HTTP attempt. */
export const PROBE_REQUEST_TIMEOUT_MS = 2500
/**
 * Public resolvers asked directly: asking the system resolver too early would make it cache the
 * NXDOMAIN, and the user's browser would then fail for minutes on a tunnel that works.
 */
export const PROBE_DNS_SERVERS = ['1.1.1.1', '8.8.8.8']

export interface ProbeOptions {
  timeoutMs?: number
  intervalMs?: number
  requestTimeoutMs?: number
  /** Resolves a host name to addresses; defaults to the public resolvers above. */
  resolve?: (host: string) => Promise<string[]>
  fetchImpl?: typeof fetch
  signal?: AbortSignal
}

function defaultResolve(): (host: string) => Promise<string[]> {
  const resolver = new Resolver({timeout: 1500, tries: 1})
  resolver.setServers(PROBE_DNS_SERVERS)
  return async (host) => {
    const v4 = await resolver.resolve4(host).catch(() => [] as string[])
    if (v4.length > 0) return v4
    return resolver.resolve6(host)
  }
}

/**
 * Waits (bounded) until the public URL answers over HTTP with a status below 500. Returns null when it
 * does, or a one-line warning when it does not within the bound; never throws.
 */
export async function probePublicUrl(publicUrl: string, opts: ProbeOptions = {}): Promise<string | null> {
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS
  const intervalMs = opts.intervalMs ?? PROBE_INTERVAL_MS
  const deadline = Date.now() + timeoutMs
  const doFetch = opts.fetchImpl ?? fetch
  let url: URL
  try {
    url = new URL(publicUrl)
  } catch {
    return `Could not check ${publicUrl}: not a URL.`
  }

  const host = url.hostname.replace(/^\[(.*)]$/, '$1')
  const resolve = opts.resolve ?? defaultResolve()
  let last = 'no answer'
  let resolved = isIP(host) !== 0 || host === 'localhost'
  for (let attempt = 0; attempt < 1000 && Date.now() < deadline && !opts.signal?.aborted; attempt++) {
    const left = deadline - Date.now()
    try {
      if (!resolved) {
        const addrs = await Promise.race([
          resolve(host),
          new Promise<string[]>((_, reject) => setTimeout(() => reject(new Error('DNS timeout')), Math.max(1, left)).unref()),
        ])
        if (addrs.length === 0) throw new Error('no addresses')
        resolved = true
      }

      const res = await doFetch(url, {
        method: 'GET',
        redirect: 'manual',
        signal: AbortSignal.timeout(Math.max(1, Math.min(opts.requestTimeoutMs ?? PROBE_REQUEST_TIMEOUT_MS, deadline - Date.now()))),
      })
      await res.body?.cancel().catch(() => {})
      if (res.status < 500) return null
      last = `HTTP ${res.status}`
    } catch (error) {
      const e = error as Error & {code?: string; cause?: {code?: string}}
      last = resolved ? `HTTP: ${e.cause?.code ?? e.code ?? e.message}` : `DNS: ${e.code ?? e.message}`
    }

    const wait = Math.min(intervalMs, deadline - Date.now())
    if (wait <= 0) break
    await new Promise((r) => setTimeout(r, wait))
  }

  return `${publicUrl} did not answer within ${Math.round(timeoutMs / 1000)}s (${last}); new tunnel hostnames often need a few more seconds, so the link may work shortly.`
}
