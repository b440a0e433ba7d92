// More links to a running preview (share) and taking them back (revoke). The running gateway picks the change up
// from state.json (the supervisor watches it and calls gateway.setLinks), so a revocation applies within a second.
import {InvalidInput, PreviewError, PreviewNotFound} from '../errors.js'
import {appendAudit} from '../records/audit.js'
import {loadJwtKey, mintLink} from '../records/credentials.js'
import type {SddPaths} from '../records/paths.js'
import {readState, updateState} from '../records/state.js'
import type {AuthMode, LinkRecord} from '../records/types.js'

export interface ShareOptions {
  paths: SddPaths
  id: string
  expireSeconds: number
  /** Defaults to the preview's own mode: its gateway checks one kind of credential. */
  authMode?: AuthMode
  nowEpoch?: number
  actor?: string
}

export interface ShareResult {
  url: string
  record: LinkRecord
}

/** Mints another link to a running preview, records it in state.json and appends a `link` audit entry. */
export async function shareLink(opts: ShareOptions): Promise<ShareResult> {
  const row = readState(opts.paths).previews.find((r) => r.preview_id === opts.id)
  if (!row) throw new PreviewNotFound(opts.id)
  const authMode = opts.authMode ?? row.auth_mode
  if (authMode !== row.auth_mode) {
    throw new InvalidInput(
      `Preview ${opts.id} runs with auth=${row.auth_mode}; a ${authMode} link would not open it.`,
      `Run \`preview share ${opts.id}\` without --auth (or with --auth ${row.auth_mode}), or restart the preview with --auth ${authMode}.`,
    )
  }

  if (!row.public_url || row.status === 'stopping' || row.status === 'crashed') {
    throw new PreviewError(
      'PREVIEW_NOT_RUNNING',
      `Preview ${opts.id} is ${row.status}${row.public_url ? '' : ' and has no public URL yet'}.`,
      {
        hint: 'Share a running preview (see `preview list`), or start a new one with `preview start`.',
      },
    )
  }

  const now = opts.nowEpoch ?? Math.floor(Date.now() / 1000)
  const minted = await mintLink({
    authMode,
    expiresAtEpoch: now + opts.expireSeconds,
    key: loadJwtKey(opts.paths),
    nowEpoch: now,
    previewId: opts.id,
    publicUrl: row.public_url,
  })
  await updateState(opts.paths, (state) => {
    const current = state.previews.find((r) => r.preview_id === opts.id)
    if (!current) throw new PreviewNotFound(opts.id)
    current.links = [...(current.links ?? []), minted.record]
  })
  await appendAudit(opts.paths, {
    actor: opts.actor,
    auth_mode: authMode,
    event: 'link',
    expires_at_epoch: minted.record.expires_at_epoch,
    jti: minted.record.jti,
    preview_id: opts.id,
  })
  return {record: minted.record, url: minted.url}
}

export interface RevokeOptions {
  paths: SddPaths
  id: string
  /** One link, by its jti. */
  jti?: string
  /** Every link of the preview. */
  all?: boolean
  actor?: string
}

/** Marks links revoked in state.json and appends a `revoke` audit entry; returns the jtis newly revoked. */
export async function revokeLinks(opts: RevokeOptions): Promise<{revoked: string[]}> {
  if (Boolean(opts.jti) === Boolean(opts.all)) {
    throw new InvalidInput(
      'Say which links to revoke: --link JTI or --all-links (one of them).',
      'See `preview status <id> --json` for the jti of each link.',
    )
  }

  const revoked = await updateState(opts.paths, (state) => {
    const row = state.previews.find((r) => r.preview_id === opts.id)
    if (!row) throw new PreviewNotFound(opts.id)
    const links = row.links ?? []
    if (opts.jti !== undefined && !links.some((l) => l.jti === opts.jti)) {
      throw new InvalidInput(`Preview ${opts.id} has no link ${opts.jti}.`, `See \`preview status ${opts.id} --json\` for its links.`)
    }

    const done: string[] = []
    for (const link of links) {
      if ((opts.all || link.jti === opts.jti) && !link.revoked) {
        link.revoked = true
        done.push(link.jti)
      }
    }

    return done
  })
  if (revoked.length > 0) {
    await appendAudit(opts.paths, {actor: opts.actor, all: Boolean(opts.all), event: 'revoke', jtis: revoked, preview_id: opts.id})
  }

  return {revoked}
}
