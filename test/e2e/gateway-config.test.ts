// gateway.idle_timeout from .sdd/preview.yaml reaches the running gateway: an idle keep-alive connection through a
// real preview is closed after it; a bad value is refused before anything starts.
import {mkdirSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

function config(repo: TempRepo, text: string): void {
  mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
  writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), text)
}

describe('gateway settings', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('gateway.idle_timeout: 1s closes an idle keep-alive connection after about a second', async () => {
    config(repo, 'gateway:\n  idle_timeout: 1s\n')
    const start = await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const token = new URL(row.share_url).searchParams.get('token')!
    const {port} = new URL(row.public_url)
    const closedAfter = await new Promise<number>((resolve) => {
      const s = net.connect(Number(port), '127.0.0.1', () => s.write(`GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`))
      let answered = 0
      s.on('data', () => (answered ||= Date.now()))
      s.on('close', () => resolve(answered ? Date.now() - answered : -1))
      setTimeout(() => s.destroy(), 10_000).unref()
    })
    expect(closedAfter).toBeGreaterThanOrEqual(900)
    expect(closedAfter).toBeLessThan(4000)
  })

  it('a bad gateway.idle_timeout exits 2 naming the setting, and starts nothing', async () => {
    config(repo, 'gateway:\n  idle_timeout: soon\n')
    const r = await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js'], {cwd: repo.dir})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/gateway\.idle_timeout/)
  })
})
