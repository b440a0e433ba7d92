// Redaction of share URLs for list/status, kept apart from credentials.ts: listing needs this, not minting or verifying.

/**
 * A token link as `preview` mints it (credentials.ts linkUrl: already in WHATWG URL's canonical form): http(s),
 * a lower-case host name (its last label starts with a letter, so it is no IPv4 address to rewrite) or a dotted
 * quad, a port, a plain path, and `?token=` with a base64url/JWT value as the only query. For these the URL parser
 * would change nothing but the token, so `list` with 1,000 rows skips 1,000 parses (about 10 ms).
 */
const PLAIN_TOKEN_URL =
  /^(https?):\/\/(?:(?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*|(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?::([1-9]\d{0,4}))?(\/[A-Za-z0-9_.~/-]*)\?token=[A-Za-z0-9_.-]*$/

/** Hides the secret part of a share URL (token value or basic password). */
export function redactUrl(url: string | null): string | null {
  if (!url) return url
  const plain = PLAIN_TOKEN_URL.exec(url)
  // What the parser would still rewrite: a default or out-of-range port, `.` and `..` path segments, `xn--` labels.
  if (
    plain &&
    !(plain[2] && (Number(plain[2]) > 65_535 || plain[2] === (plain[1] === 'https' ? '443' : '80'))) &&
    !/\/\.\.?(?:\/|$)/.test(plain[3]!) &&
    !url.includes('xn--')
  ) {
    return `${url.slice(0, url.indexOf('?'))}?token=***`
  }

  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    if (u.searchParams.has('token')) u.searchParams.set('token', '***')
    return u.toString()
  } catch {
    return url
  }
}
