// Token links per served preview (`--auth token`): minted by the admin API, kept per repository in
// .sdd/runtime/preview/serve-links.json (0600) so a restarted host honours them, checked by the gateway's
// Authority of each route. A link opens one host name (its `sub` is `serve:<name>`), never another.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {ensureDir, writeFileAtomic} from '../fsutil.js'
import {loadJwtKey, mintCredential} from '../records/credentials.js'
import type {SddPaths} from '../records/paths.js'
import type {LinkRecord} from '../records/types.js'

/** The `sub` of a host name's tokens and its Authority's preview id. */
export function servedPreviewId(name: string): string {
  return `serve:${name}`
}

interface LinksFile {
  version: 1
  links: Record<string, LinkRecord[]>
}

export class HostLinks {
  private readonly byName = new Map<string, LinkRecord[]>()
  readonly key: Uint8Array

  constructor(private readonly paths: SddPaths) {
    this.key = loadJwtKey(paths)
    const file = this.file()
    if (!existsSync(file)) return
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as LinksFile
      const now = Date.now() / 1000
      for (const [name, links] of Object.entries(doc.links ?? {})) {
        const live = (Array.isArray(links) ? links : []).filter((l) => l && typeof l.jti === 'string' && l.expires_at_epoch > now)
        if (live.length > 0) this.byName.set(name, live)
      }
    } catch {
      // unreadable: no links (they can be minted again); the file is rewritten on the next mint
    }
  }

  private file(): string {
    return path.join(this.paths.runtime, 'serve-links.json')
  }

  links(name: string): LinkRecord[] {
    return this.byName.get(name) ?? []
  }

  /** A new token for `name`, valid until `expiresAtEpoch`. */
  async mint(name: string, expiresAtEpoch: number): Promise<{token: string; record: LinkRecord}> {
    const credential = await mintCredential({authMode: 'token', expiresAtEpoch, key: this.key, previewId: servedPreviewId(name)})
    const now = Date.now() / 1000
    this.byName.set(name, [...this.links(name).filter((l) => l.expires_at_epoch > now), credential.record])
    this.save()
    return {record: credential.record, token: credential.secret!}
  }

  /** Revokes one link of `name` (or all of them); returns how many were revoked. */
  revoke(name: string, jti: string | null): number {
    let n = 0
    for (const l of this.links(name)) {
      if (!l.revoked && (jti === null || l.jti === jti)) {
        l.revoked = true
        n += 1
      }
    }

    this.save()
    return n
  }

  private save(): void {
    ensureDir(this.paths.runtime)
    const doc: LinksFile = {links: Object.fromEntries(this.byName), version: 1}
    writeFileAtomic(this.file(), `${JSON.stringify(doc, null, 2)}\n`)
  }
}
