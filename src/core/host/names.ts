// Host names of `preview serve`, in the preview-server format: `<ref>.<domain>` for a single repository,
// `<label>.<domain>` (its default branch) and `<label>--<ref>.<domain>` with labels, and with a secret every name
// signed as `<name>--<sig>`. Pure functions: the host and its tests share them.
import {createHmac, timingSafeEqual} from 'node:crypto'
import {InvalidInput} from '../errors.js'

/** Hex characters of HMAC-SHA256(secret, name) a signed name carries. */
export const SIGNATURE_HEX = 20
/** What separates label, ref and signature inside one DNS label. */
export const SEPARATOR = '--'
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const SIGNATURE = new RegExp(`^[0-9a-f]{${SIGNATURE_HEX}}$`)

/** The signature of a name: the first 20 lowercase hex characters of HMAC-SHA256(secret, name). */
export function signature(secret: string, name: string): string {
  return createHmac('sha256', secret).update(name).digest('hex').slice(0, SIGNATURE_HEX)
}

/** `<name>--<sig>`: the name a host started with --secret serves. */
export function signName(secret: string, name: string): string {
  if (secret === '') throw new InvalidInput('The secret is empty.', 'Pass the same --secret the host was started with.')
  const lower = name.toLowerCase()
  if (!isDnsLabel(lower))
    throw new InvalidInput(
      `"${name}" is not a valid host name label (a-z, 0-9 and "-", at most 63, no leading or trailing "-").`,
      `Sign the part before the domain as it appears in the host name${refSlug(lower) && refSlug(lower) !== lower ? ` (here: ${refSlug(lower)})` : ''}, e.g. \`preview sign app--feature-x --secret S\`.`,
    )
  const signed = `${lower}${SEPARATOR}${signature(secret, lower)}`
  if (signed.length > 63)
    throw new InvalidInput(
      `"${name}" is too long to sign: ${signed.length} characters with its signature, DNS allows 63.`,
      'Use a shorter branch name or label.',
    )
  return signed
}

/** True when a string is one lowercase DNS label (RFC 1123). */
export function isDnsLabel(text: string): boolean {
  return DNS_LABEL.test(text)
}

/**
 * The DNS form of a branch name: lowercase, every run of characters a label cannot hold (`/`, `_`, `.`) as one
 * `-`. `feature/x` is served as `feature-x`; the host maps the name back by comparing every branch's slug.
 */
export function refSlug(ref: string): string {
  return ref
    .toLowerCase()
    .replaceAll(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
}

/** How a request's Host header maps onto what the host serves. */
export type HostTarget =
  /** The bare domain: status, dashboard, admin API. */
  | {kind: 'host'}
  /** A preview: `label` null in single-repository mode, `ref` null for the default branch. */
  | {kind: 'preview'; name: string; label: string | null; ref: string | null}
  /** Not served (with --secret: unsigned or wrongly signed): 403. */
  | {kind: 'forbidden'; reason: string}
  /** Under the domain but not a name this host can serve: 404. */
  | {kind: 'not-found'; reason: string}

export interface NameRules {
  /** e.g. `localhost` or `preview.example.com` (lowercase, no port). */
  domain: string
  /** Labels in use; empty in single-repository mode (one repository given without a label). */
  labels: readonly string[]
  /** With a secret only signed names are served. */
  secret: string | null
}

/** The Host header without its port, lowercase; null when it has none. */
export function hostName(header: string | null): string | null {
  if (header === null) return null
  let h = header.trim().toLowerCase()
  if (h.startsWith('[')) return h // an IPv6 literal is never one of our names
  const colon = h.lastIndexOf(':')
  if (colon !== -1) h = h.slice(0, colon)
  return h.endsWith('.') ? h.slice(0, -1) : h
}

/** Decides what a Host header names. */
export function parseHost(header: string | null, rules: NameRules): HostTarget {
  const host = hostName(header)
  const domain = rules.domain.toLowerCase()
  if (host === null || host === '') return {kind: 'not-found', reason: 'The request has no Host header.'}
  if (host === domain) return {kind: 'host'}
  if (!host.endsWith(`.${domain}`)) return {kind: 'not-found', reason: `${host} is not under ${domain}.`}
  const label = host.slice(0, -domain.length - 1)
  if (label.includes('.'))
    return {kind: 'not-found', reason: `${host}: previews are one label under ${domain} (use "--" where a branch has "/").`}
  if (!isDnsLabel(label)) return {kind: 'not-found', reason: `"${label}" is not a valid host name label.`}
  let name = label
  if (rules.secret !== null) {
    const cut = label.lastIndexOf(SEPARATOR)
    const sig = cut === -1 ? '' : label.slice(cut + SEPARATOR.length)
    name = cut === -1 ? '' : label.slice(0, cut)
    if (name === '' || !SIGNATURE.test(sig))
      return {kind: 'forbidden', reason: 'This host serves signed names only (preview sign NAME --secret S).'}
    const want = Buffer.from(signature(rules.secret, name))
    if (!timingSafeEqual(want, Buffer.from(sig))) return {kind: 'forbidden', reason: 'The signature of this name is wrong.'}
  }

  return parseName(name, rules)
}

/** The preview a (verified) name stands for. */
export function parseName(name: string, rules: Pick<NameRules, 'labels'>): HostTarget {
  if (rules.labels.length === 0) return {kind: 'preview', label: null, name, ref: name}
  const cut = name.indexOf(SEPARATOR)
  const label = cut === -1 ? name : name.slice(0, cut)
  const ref = cut === -1 ? null : name.slice(cut + SEPARATOR.length)
  if (!rules.labels.includes(label)) return {kind: 'not-found', reason: `No repository is served under the label "${label}".`}
  if (ref === '') return {kind: 'not-found', reason: `"${name}" names no ref after "--".`}
  return {kind: 'preview', label, name, ref}
}

/** A repository label must be a DNS label without "--" (that separates label and ref). */
export function checkLabel(label: string): string {
  const lower = label.toLowerCase()
  if (!isDnsLabel(lower) || lower.includes(SEPARATOR)) {
    throw new InvalidInput(
      `"${label}" is not a usable label: a-z, 0-9 and single "-", at most 63 characters.`,
      'Pass LABEL=PATH with a label such as "app" or "docs".',
    )
  }

  return lower
}

/** The host name label of a preview, signed when the host has a secret: what `preview serve` prints and links to. */
export function previewLabel(label: string | null, ref: string | null, secret: string | null): string {
  const name = label === null ? refSlug(ref ?? '') : ref === null ? label : `${label}${SEPARATOR}${refSlug(ref)}`
  return secret === null ? name : signName(secret, name)
}
