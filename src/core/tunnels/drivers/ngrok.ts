// ngrok: the @ngrok/ngrok SDK in the supervisor process (no agent binary); needs NGROK_AUTHTOKEN.
import {TunnelFailed} from '../../errors.js'
import type {TunnelDriver, TunnelHandle} from '../types.js'

/** How long ngrok gets to create the endpoint. Tests pass opts.timeoutMs. */
export const NGROK_START_TIMEOUT_MS = 20_000
export const NGROK_HINT = 'set NGROK_AUTHTOKEN (from https://dashboard.ngrok.com/get-started/your-authtoken)'

/** Advice for the ERR_NGROK codes a start-up can hit; the docs page covers the rest. */
export const NGROK_ADVICE: Readonly<Record<string, string>> = {
  ERR_NGROK_105: 'NGROK_AUTHTOKEN is malformed: copy it again from https://dashboard.ngrok.com/get-started/your-authtoken.',
  ERR_NGROK_106: 'NGROK_AUTHTOKEN is invalid (reset or revoked): copy a current one from the ngrok dashboard.',
  ERR_NGROK_107: 'NGROK_AUTHTOKEN is invalid (reset or revoked): copy a current one from the ngrok dashboard.',
  ERR_NGROK_108: 'Your ngrok plan allows only one agent session at a time: stop the other ngrok agent or preview, or upgrade.',
  ERR_NGROK_120: 'This ngrok client is too old for the service: update @ngrok/ngrok.',
  ERR_NGROK_121: 'This ngrok client is too old for the service: update @ngrok/ngrok.',
  ERR_NGROK_313: 'Custom domains need a paid ngrok plan or a reserved domain: remove providers.ngrok.domain or reserve it.',
  ERR_NGROK_320: 'providers.ngrok.domain is reserved by another account: use a domain reserved on yours.',
  ERR_NGROK_334: 'That ngrok domain is already online elsewhere: stop the other endpoint or use another domain.',
  ERR_NGROK_4018: 'ngrok needs a verified account and an authtoken: sign up, then set NGROK_AUTHTOKEN.',
}

/** Maps an ngrok error (its `errorCode` or the code in its message) to a short piece of advice. */
export function ngrokAdvice(error: unknown): {code: string | null; advice: string} {
  const err = error as {errorCode?: unknown; message?: unknown}
  const fromField = typeof err?.errorCode === 'string' ? err.errorCode : null
  const fromMessage = typeof err?.message === 'string' ? (/ERR_NGROK_\d+/.exec(err.message)?.[0] ?? null) : null
  const code = fromField ?? fromMessage
  if (code && NGROK_ADVICE[code]) return {advice: NGROK_ADVICE[code], code}
  if (code) return {advice: `See https://ngrok.com/docs/errors/${code.toLowerCase().replace(/_/g, '-')}/ for what ${code} means.`, code}
  return {advice: 'Check the network and NGROK_AUTHTOKEN, or pick another --provider.', code: null}
}

interface NgrokListener {
  url(): string | null
  close(): Promise<void>
  join(): Promise<void>
}

export const ngrokDriver: TunnelDriver = {
  name: 'ngrok',
  async available({env}) {
    return env.NGROK_AUTHTOKEN ? {detail: 'NGROK_AUTHTOKEN set', ok: true} : {hint: NGROK_HINT, ok: false}
  },
  async open(opts) {
    const token = opts.env.NGROK_AUTHTOKEN
    if (!token) {
      throw new TunnelFailed(
        'ngrok',
        'not-configured',
        'ngrok needs an authtoken and NGROK_AUTHTOKEN is not set.',
        `Set NGROK_AUTHTOKEN (${NGROK_HINT.replace(/^set NGROK_AUTHTOKEN /, '')}), or pick another --provider.`,
      )
    }

    // Loaded on demand: a native module the other providers should not pay for (or fail on).
    let ngrok: {forward(config: Record<string, unknown>): Promise<NgrokListener>}
    try {
      ngrok = (await import('@ngrok/ngrok')) as unknown as typeof ngrok
    } catch (error) {
      throw new TunnelFailed(
        'ngrok',
        'binary-missing',
        `The @ngrok/ngrok module cannot be loaded: ${(error as Error).message}`,
        'Reinstall preview (npm install), or pick another --provider.',
      )
    }

    const domain = typeof opts.config.domain === 'string' && opts.config.domain !== '' ? opts.config.domain : undefined
    const timeoutMs = opts.timeoutMs ?? NGROK_START_TIMEOUT_MS
    let timer: NodeJS.Timeout | undefined
    const pending = ngrok.forward({addr: opts.localUrl, authtoken: token, ...(domain ? {domain} : {})})
    let listener: NgrokListener
    try {
      listener = await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new TunnelFailed(
                  'ngrok',
                  'timeout',
                  `ngrok created no endpoint within ${Math.round(timeoutMs / 1000)}s.`,
                  'Check the network, or pick another --provider.',
                ),
              ),
            timeoutMs,
          )
        }),
      ])
    } catch (error) {
      // A late success after the timeout must not leave an endpoint online.
      void pending.then((l) => l.close()).catch(() => {})
      if (error instanceof TunnelFailed) throw error
      const {advice, code} = ngrokAdvice(error)
      // The SDK's message never contains the token; keep only its first line.
      const message = String((error as Error).message ?? error).split('\n')[0]
      throw new TunnelFailed('ngrok', 'error', `ngrok failed${code ? ` (${code})` : ''}: ${message}`, advice)
    } finally {
      clearTimeout(timer)
    }

    const url = listener.url()
    if (!url) {
      await listener.close().catch(() => {})
      throw new TunnelFailed('ngrok', 'error', 'ngrok returned an endpoint without a URL.')
    }

    let closed: Promise<void> | null = null
    const exitCbs: Array<(reason: string) => void> = []
    listener.join().then(
      () => {
        if (!closed) for (const cb of exitCbs.splice(0)) cb('ngrok endpoint stopped')
      },
      (error: unknown) => {
        if (!closed) for (const cb of exitCbs.splice(0)) cb(`ngrok endpoint failed: ${ngrokAdvice(error).advice}`)
      },
    )
    const handle: TunnelHandle = {
      close() {
        closed ??= listener.close().catch(() => {})
        return closed
      },
      name: new URL(url).hostname,
      onExit(cb) {
        exitCbs.push(cb)
      },
      pid: null,
      publicUrl: url,
    }
    return handle
  },
}
