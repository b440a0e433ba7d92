// The gateway's own answers (refusals, bad requests, the token-to-cookie redirect): always small plain-text
// responses that close the connection, never cached. Pure: the connection decides when one goes out.
import {REFUSAL_STATUS, REFUSAL_TEXT, type RefusalKind} from './auth.js'

export const REFUSAL_HEADER = 'X-Preview-Refusal'

const STATUS_TEXT: Record<number, string> = {
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
}

/** The whole response, head and (unless it answers a HEAD request) body; `Connection: close`. */
export function answerText(status: number, headers: string[], body: string, headOnly: boolean): string {
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    ...headers,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
  ]
  return `${lines.join('\r\n')}\r\n\r\n${headOnly ? '' : body}`
}

/** The attributes of the preview's cookie (Secure behind https). */
export function cookieAttributes(secure: boolean): string {
  return `Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
}

/** A refusal: its status, the challenge the route's auth mode asks for, and the stale cookie cleared. */
export function refusalAnswer(
  refusal: RefusalKind,
  route: {mode: string; cookieName: string; secure: boolean} | null,
  clearCookie: boolean,
): {status: number; headers: string[]; body: string} {
  const headers = [`${REFUSAL_HEADER}: ${refusal}`]
  if (refusal === 'basic') headers.push('WWW-Authenticate: Basic realm="preview", charset="UTF-8"')
  else if (refusal !== 'origin' && route?.mode === 'token') headers.push('WWW-Authenticate: Bearer realm="preview"')
  if (clearCookie && route) headers.push(`Set-Cookie: ${route.cookieName}=; Max-Age=0; ${cookieAttributes(route.secure)}`)
  return {body: `${REFUSAL_TEXT[refusal]}\n`, headers, status: REFUSAL_STATUS[refusal]}
}

/** A token in the URL becomes the cookie: a redirect to the same path without it (no Referer leaks the token). */
export function cookieRedirectHeaders(location: string, cookieName: string, token: string, maxAge: number, secure: boolean): string[] {
  return [
    `Location: ${location}`,
    `Set-Cookie: ${cookieName}=${token}; Max-Age=${maxAge}; ${cookieAttributes(secure)}`,
    'Referrer-Policy: no-referrer',
  ]
}
