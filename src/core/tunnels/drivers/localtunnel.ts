// localtunnel: the `localtunnel` npm client, with a bounded start-up (the client alone retries forever).
import {createRequire} from 'node:module'
import {InvalidInput, TunnelFailed} from '../../errors.js'
import type {TunnelDriver, TunnelHandle} from '../types.js'

/** How long the localtunnel server gets to hand out a URL and accept a connection. Tests pass opts.timeoutMs. */
export const LOCALTUNNEL_START_TIMEOUT_MS = 20_000
/** One request to the server for a new tunnel; retried until the start-up timeout. */
export const LOCALTUNNEL_REQUEST_TIMEOUT_MS = 5000
export const LOCALTUNNEL_DEFAULT_HOST = 'https://localtunnel.me'

interface LtInfo {
  name: string
  url: string
}

interface LtTunnel {
  url?: string
  closed: boolean
  opts: Record<string, unknown>
  _getInfo(body: unknown): LtInfo
  _init(cb: (err: Error | null, info?: LtInfo) => void): void
  open(cb: (err?: Error) => void): void
  close(): void
  on(event: string, cb: (...args: unknown[]) => void): void
  once(event: string, cb: (...args: unknown[]) => void): void
}

/** The server base URL from providers.localtunnel.host (self-hosted servers), validated. */
export function localtunnelHost(config: Record<string, unknown>): string {
  const host =
    typeof config.host === 'string' && config.host.trim() !== '' ? config.host.trim().replace(/\/+$/, '') : LOCALTUNNEL_DEFAULT_HOST
  let parsed: URL
  try {
    parsed = new URL(host)
  } catch {
    throw new InvalidInput(`providers.localtunnel.host must be a URL such as https://lt.example.com (got "${host}").`)
  }

  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new InvalidInput(`providers.localtunnel.host must be http(s) (got "${host}").`)
  return host
}

export const localtunnelDriver: TunnelDriver = {
  name: 'localtunnel',
  async available() {
    return {detail: 'bundled npm client', ok: true}
  },
  async open(opts) {
    const host = localtunnelHost(opts.config)
    const subdomain = typeof opts.config.subdomain === 'string' && opts.config.subdomain !== '' ? opts.config.subdomain : undefined
    const timeoutMs = opts.timeoutMs ?? LOCALTUNNEL_START_TIMEOUT_MS
    const require = createRequire(import.meta.url)
    const Tunnel = require('localtunnel/lib/Tunnel') as new (o: Record<string, unknown>) => LtTunnel
    const tunnel = new Tunnel({host, local_host: '127.0.0.1', port: opts.gatewayPort, ...(subdomain ? {subdomain} : {})})
    const deadline = Date.now() + timeoutMs
    let lastError = 'no answer'

    // The client's own _init retries every second forever and cannot be stopped; this one asks with
    // a per-request timeout and gives up at the deadline (or when the tunnel is closed).
    tunnel._init = (cb) => {
      const attempt = async (): Promise<void> => {
        while (!tunnel.closed && Date.now() < deadline) {
          try {
            const res = await fetch(`${host}/${subdomain ?? '?new'}`, {
              signal: AbortSignal.timeout(Math.min(LOCALTUNNEL_REQUEST_TIMEOUT_MS, Math.max(1, deadline - Date.now()))),
            })
            const body = (await res.json().catch(() => null)) as {message?: string} | null
            if (res.status !== 200) {
              cb(new Error(body?.message ?? `the server answered HTTP ${res.status}`))
              return
            }

            cb(null, tunnel._getInfo(body))
            return
          } catch (error) {
            lastError = (error as Error).message
          }

          await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))))
        }

        cb(new Error(`no tunnel from ${host} within ${Math.round(timeoutMs / 1000)}s (${lastError})`))
      }

      void attempt()
    }

    let timer: NodeJS.Timeout | undefined
    const url = await new Promise<string>((resolve, reject) => {
      const fail = (reason: 'timeout' | 'error', message: string) => {
        clearTimeout(timer)
        tunnel.close()
        reject(
          new TunnelFailed(
            'localtunnel',
            reason,
            message,
            `Check that ${host} is reachable, set providers.localtunnel.host to a server you run, or pick another --provider.`,
          ),
        )
      }

      timer = setTimeout(
        () => fail('timeout', `localtunnel got no working tunnel from ${host} within ${Math.round(timeoutMs / 1000)}s (${lastError}).`),
        timeoutMs,
      )
      // 'url' fires once the first connection to the server is open: the tunnel really works then.
      tunnel.once('url', (u) => {
        clearTimeout(timer)
        resolve(String(u))
      })
      tunnel.once('error', (error) => fail('error', `localtunnel: ${(error as Error).message}`))
      tunnel.open((err) => {
        if (err) fail(/within/.test(err.message) ? 'timeout' : 'error', `localtunnel: ${err.message}`)
      })
    })

    const exitCbs: Array<(reason: string) => void> = []
    let closed = false
    tunnel.on('error', (error) => {
      if (closed) return
      closed = true
      tunnel.close()
      for (const cb of exitCbs.splice(0)) cb(`localtunnel: ${(error as Error).message}`)
    })
    const handle: TunnelHandle = {
      async close() {
        closed = true
        tunnel.close()
      },
      name: subdomain ?? new URL(url).hostname.split('.')[0] ?? null,
      onExit(cb) {
        exitCbs.push(cb)
      },
      pid: null,
      publicUrl: url,
    }
    return handle
  },
}
