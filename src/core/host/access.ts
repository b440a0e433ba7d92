// Who may reach a served preview: the auth every preview route asks for (`none`, the one basic credential, or token
// links), and the token links themselves, minted and revoked by the admin API (`--auth token`).
import {InvalidInput} from '../errors.js'
import type {GatewayAuth} from '../gateway/index.js'
import {BASIC_USER, sha256Hex} from '../records/credentials.js'
import type {LinkRecord} from '../records/types.js'
import {HostLinks, servedPreviewId} from './links.js'
import {isDnsLabel, parseName, type HostTarget} from './names.js'
import type {ServedRepo} from './repos.js'
import type {HostState} from './state.js'

type PreviewTarget = Extract<HostTarget, {kind: 'preview'}>

/** The basic credential of `--basic-auth USER:PASS`, as a link the gateway checks (null: none given). */
function basicLinkOf(basicAuth: string | null): LinkRecord | null {
  if (basicAuth === null) return null
  const colon = basicAuth.indexOf(':')
  const user = basicAuth.slice(0, colon)
  const pass = basicAuth.slice(colon + 1)
  if (colon < 1 || pass === '')
    throw new InvalidInput('--basic-auth must be USER:PASS.', 'Pass --basic-auth USER:<a long random password>.')
  return {
    ...(user === BASIC_USER ? {} : {user}),
    auth_mode: 'basic',
    expires_at_epoch: Number.MAX_SAFE_INTEGER,
    jti: 'serve-basic',
    password_sha256: sha256Hex(pass),
    revoked: false,
  }
}

export class HostAccess {
  private readonly basicLink: LinkRecord | null
  /** Token links per repository root (`--auth token`). */
  private readonly links = new Map<string, HostLinks>()

  /** `applyLinks`: new or revoked links of a name reach its routes (and sockets of revoked links close). */
  constructor(
    private readonly state: HostState,
    private readonly applyLinks: (repo: ServedRepo, name: string, links: LinkRecord[]) => void,
  ) {
    this.basicLink = basicLinkOf(state.opts.basicAuth)
    if (state.opts.auth === 'basic' && this.basicLink === null)
      throw new InvalidInput('auth basic needs the basic credentials.', 'Pass --basic-auth preview:<password>.')
  }

  /** What a preview route of `name` asks for. */
  routeAuth(name: string, repo: ServedRepo): GatewayAuth {
    const previewId = servedPreviewId(name)
    switch (this.state.opts.auth) {
      case 'none': {
        return {jwtKey: new Uint8Array(32), links: [], mode: 'none', previewId}
      }

      case 'basic': {
        return {jwtKey: new Uint8Array(32), links: [this.basicLink!], mode: 'basic', previewId}
      }

      case 'token': {
        const links = this.linksOf(repo)
        return {jwtKey: links.key, links: links.links(name), mode: 'token', previewId, reloadLinks: () => links.links(name)}
      }
    }
  }

  /** A token link to a served name (`--auth token`): POST /-/preview/share. */
  async share(name: string, expireSeconds: number): Promise<{name: string; url: string; jti: string; expires_at_epoch: number}> {
    if (this.state.opts.auth !== 'token')
      throw new InvalidInput('Token links need a host started with --auth token.', 'Restart it with --auth token, or use --basic-auth.')
    const {repo, target} = this.servedName(name)
    const expires = Math.floor(Date.now() / 1000) + expireSeconds
    const links = this.linksOf(repo)
    const {record, token} = await links.mint(target.name, expires)
    this.applyLinks(repo, target.name, links.links(target.name))
    const url = new URL(this.state.publicUrl(this.state.signed(target.name)))
    url.searchParams.set('token', token)
    this.state.logJson({event: 'link', expires_at_epoch: expires, jti: record.jti, name: target.name})
    return {expires_at_epoch: expires, jti: record.jti, name: target.name, url: url.toString()}
  }

  /** Revokes one token link of a name, or all of them: POST /-/preview/revoke. Open sockets of revoked links close. */
  revoke(name: string, jti: string | null): {name: string; revoked: number} {
    if (this.state.opts.auth !== 'token') throw new InvalidInput('This host has no token links (it was not started with --auth token).')
    const {repo, target} = this.servedName(name)
    const links = this.linksOf(repo)
    const revoked = links.revoke(target.name, jti)
    this.applyLinks(repo, target.name, links.links(target.name))
    this.state.logJson({event: 'revoke', jti, name: target.name, revoked})
    return {name: target.name, revoked}
  }

  private linksOf(repo: ServedRepo): HostLinks {
    let links = this.links.get(repo.root)
    if (!links) {
      links = new HostLinks(repo.paths)
      this.links.set(repo.root, links)
    }

    return links
  }

  /** A name as the host serves it (unsigned: `main`, `app`, `app--feature-x`). */
  private servedName(name: string): {repo: ServedRepo; target: PreviewTarget} {
    const lower = String(name).toLowerCase()
    if (!isDnsLabel(lower))
      throw new InvalidInput(
        `"${name}" is not a host name label.`,
        'Pass the name without the domain and without a signature, e.g. "main" or "app--feature-x" (feature/x is written feature-x).',
      )
    const target = parseName(lower, this.state.rules())
    if (target.kind !== 'preview')
      throw new InvalidInput(
        `"${name}" is not a name this host serves${'reason' in target ? `: ${target.reason}` : ''}.`,
        'Pass the host name label without the domain and without a signature, e.g. "main" or "app--feature-x".',
      )
    return {repo: this.state.repoFor(target.label)!, target}
  }
}
