import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import Revoke from '../../src/commands/revoke.js'
import Share from '../../src/commands/share.js'
import {readAudit} from '../../src/core/records/audit.js'
import {loadJwtKey, verifyToken} from '../../src/core/records/credentials.js'
import {startGateway} from '../../src/core/gateway/index.js'
import {revokeLinks, shareLink} from '../../src/core/preview/links.js'
import {sddPaths, type SddPaths} from '../../src/core/records/paths.js'
import {readState, upsertRow} from '../../src/core/records/state.js'
import type {PreviewRow} from '../../src/core/records/types.js'
import {request, startDevServer} from './gateway-helpers.js'

const ID = 'p-00c0ffee'
let dir: string
let paths: SddPaths

function row(over: Partial<PreviewRow> = {}): PreviewRow {
  return {
    auth_mode: 'token',
    command: 'npm run dev',
    created_at_epoch: Math.floor(Date.now() / 1000),
    cwd: '/tmp',
    expires_at_epoch: Math.floor(Date.now() / 1000) + 3600,
    gateway_port: 1,
    links: [],
    port: 2,
    preview_id: ID,
    process_pid: null,
    public_url: 'https://abc.example.test',
    restarts: 0,
    sandbox_backend: 'cwd',
    sandbox_session_id: null,
    share_url: null,
    status: 'running',
    supervisor_pid: null,
    tunnel_name: null,
    tunnel_provider: 'local',
    ...over,
  }
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'links-'))
  paths = sddPaths(path.join(dir, '.sdd'))
  await upsertRow(paths, row())
})

afterEach(() => {
  rmSync(dir, {force: true, recursive: true})
  vi.unstubAllEnvs()
})

describe('shareLink / revokeLinks', () => {
  it('mints a link on the public URL, records it and audits it', async () => {
    const {record, url} = await shareLink({expireSeconds: 600, id: ID, paths})
    const u = new URL(url)
    expect(u.origin).toBe('https://abc.example.test')
    const claims = await verifyToken(u.searchParams.get('token')!, loadJwtKey(paths), ID)
    expect(claims?.jti).toBe(record.jti)
    expect(readState(paths).previews[0]!.links).toEqual([record])
    const audit = readAudit(paths)
    expect(audit.map((e) => [e.event, e.jti, e.auth_mode])).toEqual([['link', record.jti, 'token']])
    expect(JSON.stringify(audit)).not.toContain(u.searchParams.get('token')!)
  })

  it('refuses unknown ids, a mismatched auth mode and previews without a public URL', async () => {
    await expect(shareLink({expireSeconds: 60, id: 'p-deadbeef', paths})).rejects.toMatchObject({code: 'PREVIEW_NOT_FOUND', exitCode: 2})
    await expect(shareLink({authMode: 'basic', expireSeconds: 60, id: ID, paths})).rejects.toMatchObject({exitCode: 2})
    await upsertRow(paths, row({public_url: null, status: 'starting'}))
    await expect(shareLink({expireSeconds: 60, id: ID, paths})).rejects.toMatchObject({code: 'PREVIEW_NOT_RUNNING'})
  })

  it('revokes one link or all, and the gateway fed from state refuses them', async () => {
    const a = await shareLink({expireSeconds: 600, id: ID, paths})
    const b = await shareLink({expireSeconds: 600, id: ID, paths})
    const dev = await startDevServer()
    const gw = await startGateway({
      auth: {jwtKey: loadJwtKey(paths), links: readState(paths).previews[0]!.links, mode: 'token', previewId: ID},
      targetPort: dev.port,
    })
    try {
      const cookieOf = (url: string) => ({cookie: `preview_${ID}=${new URL(url).searchParams.get('token')}`})
      expect((await request(`${gw.url}/`, {headers: cookieOf(a.url)})).status).toBe(200)
      expect(await revokeLinks({id: ID, jti: a.record.jti, paths})).toEqual({revoked: [a.record.jti]})
      gw.setLinks(readState(paths).previews[0]!.links) // what the supervisor does when state.json changes
      expect((await request(`${gw.url}/`, {headers: cookieOf(a.url)})).status).toBe(403)
      expect((await request(`${gw.url}/`, {headers: cookieOf(b.url)})).status).toBe(200)
      expect(await revokeLinks({all: true, id: ID, paths})).toEqual({revoked: [b.record.jti]})
      gw.setLinks(readState(paths).previews[0]!.links)
      expect((await request(`${gw.url}/`, {headers: cookieOf(b.url)})).status).toBe(403)
    } finally {
      await gw.close()
      await dev.close()
    }

    expect(readAudit(paths).map((e) => e.event)).toEqual(['link', 'link', 'revoke', 'revoke'])
    await expect(revokeLinks({id: ID, jti: 'nope', paths})).rejects.toMatchObject({exitCode: 2})
    await expect(revokeLinks({id: ID, paths})).rejects.toMatchObject({exitCode: 2})
    await expect(revokeLinks({all: true, id: 'p-deadbeef', paths})).rejects.toMatchObject({code: 'PREVIEW_NOT_FOUND'})
  })
})

describe('share and revoke commands', () => {
  it('share prints JSON (--expire 24h at most; more is exit 2); revoke takes it back', async () => {
    vi.stubEnv('PREVIEW_SDD_DIR', paths.root)
    const out: string[] = []
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk))
      return true
    })
    const logSpy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      out.push(args.map(String).join(' '))
    })
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      await expect(Share.run([ID, '--expire', '3d'], import.meta.url)).rejects.toMatchObject({oclif: {exit: 2}})
      out.length = 0
      const shared = (await Share.run([ID, '--expire', '1d', '--json'], import.meta.url)) as {
        jti: string
        expires_at_epoch: number
        url: string
      }
      expect(shared.expires_at_epoch - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(86_400)
      expect(shared.expires_at_epoch - Math.floor(Date.now() / 1000)).toBeGreaterThan(86_300)
      expect(JSON.parse(out.join('\n'))).toMatchObject({jti: shared.jti, preview_id: ID})
      const revoked = (await Revoke.run([ID, '--link', shared.jti], import.meta.url)) as {revoked: string[]}
      expect(revoked.revoked).toEqual([shared.jti])
    } finally {
      spy.mockRestore()
      logSpy.mockRestore()
      errSpy.mockRestore()
    }
  })
})
