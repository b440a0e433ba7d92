// template: a static edge (nginx, Caddy, a load balancer) configured once; the public URL is made from a template.
import {InvalidInput} from '../../errors.js'
import type {TunnelDriver, TunnelHandle} from '../types.js'

export const TEMPLATE_HINT =
  'set providers.template.url in .sdd/preview.yaml, e.g. https://preview-{port}.preview.example.com (see docs/edge.md)'

/** Values a URL template may name: the gateway's port, the preview id, the ref (as a host-name label). */
export interface TemplateValues {
  port: number
  id: string
  ref: string | null
}

/**
 * A ref as one DNS label: lowercase letters, digits and dashes, at most 40 characters (`feature/Login_v2` ->
 * `feature-login-v2`). No ref (a working copy) is `head`.
 */
export function refLabel(ref: string | null | undefined): string {
  const label = (ref ?? '')
    .toLowerCase()
    .replaceAll(/[^a-z0-9]+/g, '-')
    .slice(0, 40)
    .replaceAll(/^-+|-+$/g, '')
  return label === '' ? 'head' : label
}

/**
 * Fills `{port}`, `{id}` and `{ref}` and checks the result is an http(s) URL without path, query or
 * credentials (the link's own path and token are added to it). Throws InvalidInput naming the setting.
 */
export function fillUrlTemplate(template: string, values: TemplateValues, setting: string): string {
  const unknown = [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((n) => n !== 'port' && n !== 'id' && n !== 'ref')
  if (unknown.length > 0) {
    throw new InvalidInput(
      `${setting} "${template}" names {${unknown[0]}}, which is not a placeholder.`,
      'Use {port} (the gateway port), {id} (the preview id) or {ref}.',
    )
  }

  if (!template.includes('{port}') && !template.includes('{id}')) {
    throw new InvalidInput(
      `${setting} "${template}" has neither {port} nor {id}: every preview would get the same URL.`,
      'Put {port} or {id} in the host name, e.g. https://preview-{port}.preview.example.com.',
    )
  }

  const filled = template.replaceAll('{port}', String(values.port)).replaceAll('{id}', values.id).replaceAll('{ref}', refLabel(values.ref))
  let url: URL
  try {
    url = new URL(filled)
  } catch {
    throw new InvalidInput(
      `${setting} "${template}" does not make a URL (got "${filled}").`,
      'Write it as https://<name>.<domain>, e.g. https://{id}.preview.example.com.',
    )
  }

  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new InvalidInput(`${setting} "${template}" must be an http or https URL.`)
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new InvalidInput(
      `${setting} "${template}" must be an origin only (no path, query or user).`,
      'The link adds its own path and token.',
    )
  }

  return url.origin
}

/** `template`: nothing is opened; the edge, configured once, routes the name to this machine's gateway. */
export const templateDriver: TunnelDriver = {
  name: 'template',
  async available({config}) {
    return typeof config.url === 'string' && config.url !== '' ? {detail: config.url, ok: true} : {hint: TEMPLATE_HINT, ok: false}
  },
  async open(opts) {
    const template = opts.config.url
    if (typeof template !== 'string' || template === '') throw new InvalidInput('providers.template.url is not set.', TEMPLATE_HINT)
    const publicUrl = fillUrlTemplate(
      template,
      {id: opts.previewId ?? 'preview', port: opts.gatewayPort, ref: opts.ref ?? null},
      'providers.template.url',
    )
    opts.log?.(`[template] ${publicUrl} -> ${opts.localUrl} (the edge must route this name here)`)
    const handle: TunnelHandle = {
      close: async () => {},
      name: new URL(publicUrl).hostname,
      onExit() {},
      pid: null,
      publicUrl,
    }
    return handle
  },
}
