// Redaction of share URLs for list/status, kept apart from credentials.ts: listing needs this, not minting or verifying.

/** Hides the secret part of a share URL (token value or basic password). */
export function redactUrl(url: string | null): string | null {
  if (!url) return url
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    if (u.searchParams.has('token')) u.searchParams.set('token', '***')
    return u.toString()
  } catch {
    return url
  }
}
