// share and revoke through the CLI against a running preview: the live gateway honours revocation within a second.
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

describe('preview share / revoke', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('share mints a second working link; revoke --link kills it (cookie included) within a second; the first link lives on', async () => {
    const start = await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const share = await runCli(['share', row.preview_id, '--expire', '30m', '--json'], {cwd: repo.dir})
    expect(share.code, share.stderr).toBe(0)
    const link = json(share)
    expect(link.url).toMatch(/\?token=ey/)
    expect(link.url).not.toBe(row.share_url)
    const first = await fetch(link.url, {redirect: 'manual'})
    expect(first.status).toBe(302)
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!
    expect((await fetch(row.public_url, {headers: {cookie}})).status).toBe(200)

    const revoke = await runCli(['revoke', row.preview_id, '--link', link.jti, '--json'], {cwd: repo.dir})
    expect(json(revoke)).toEqual({preview_id: row.preview_id, revoked: [link.jti]})
    const t0 = Date.now()
    const refused = async (res: Promise<Response>) => {
      const r = await res
      return r.status === 403 && r.headers.get('x-preview-refusal') === 'revoked'
    }

    expect(await waitFor(() => refused(fetch(row.public_url, {headers: {cookie}})), 3000)).toBe(true)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(await refused(fetch(link.url, {redirect: 'manual'}))).toBe(true)
    expect((await fetch(row.share_url, {redirect: 'manual'})).status).toBe(302) // the start link still works

    const tooLong = await runCli(['share', row.preview_id, '--expire', '2d'], {cwd: repo.dir})
    expect(tooLong.code).toBe(2)
    expect((await runCli(['share', 'p-00000000'], {cwd: repo.dir})).code).toBe(2)

    const audit = readFileSync(path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(audit.map((e) => e.event)).toEqual(['start', 'link', 'revoke'])
    expect(audit[1]).toMatchObject({auth_mode: 'token', jti: link.jti})
  })
})
