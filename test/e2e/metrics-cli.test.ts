// Metrics from real lifecycles: counters derived from the audit log the CLI wrote, checked by promtool.
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const PROMTOOL = '/usr/bin/promtool'

describe('preview metrics after real start/stop cycles', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('two cycles with different auth modes and one share give exact counters; the chain verifies', async () => {
    const start = async (auth: string) => {
      const res = await runCli(['start', '--provider', 'local', '--auth', auth, '--cwd', '.', '--command', 'node server.js', '--json'], {
        cwd: repo.dir,
      })
      expect(res.code, res.stderr).toBe(0)
      return json(res).preview_id as string
    }

    const a = await start('token')
    expect((await runCli(['share', a], {cwd: repo.dir})).code).toBe(0)
    const during = (await runCli(['metrics'], {cwd: repo.dir})).stdout
    expect(during).toMatch(/^preview_active 1$/m)
    expect((await runCli(['stop', a], {cwd: repo.dir})).code).toBe(0)
    const b = await start('basic')
    expect((await runCli(['stop', b], {cwd: repo.dir})).code).toBe(0)

    const res = await runCli(['metrics'], {cwd: repo.dir})
    expect(res.code).toBe(0)
    const values = Object.fromEntries(
      res.stdout
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]),
    )
    expect(values).toMatchObject({
      preview_active: 0,
      'preview_link_issued_total{auth_mode="basic"}': 1,
      'preview_link_issued_total{auth_mode="none"}': 0,
      'preview_link_issued_total{auth_mode="token"}': 2,
      'preview_started_total{provider="local",auth_mode="basic"}': 1,
      'preview_started_total{provider="local",auth_mode="token"}': 1,
      'preview_stopped_total{reason="crash"}': 0,
      'preview_stopped_total{reason="expiry"}': 0,
      'preview_stopped_total{reason="operator"}': 2,
    })
    const verify = json(await runCli(['audit', 'verify', '--json'], {cwd: repo.dir}))
    expect(verify).toMatchObject({entries: 5, first_bad: null, ok: true})

    if (!existsSync(PROMTOOL)) {
      if (process.env.CI) throw new Error(`${PROMTOOL} is missing but CI is set: install prometheus`)
      console.warn('promtool not found; skipping the lint (install prometheus)')
      return
    }

    const lint = spawnSync(PROMTOOL, ['check', 'metrics'], {encoding: 'utf8', input: res.stdout})
    expect(lint.status, lint.stdout + lint.stderr).toBe(0)
    expect((lint.stdout + lint.stderr).trim()).toBe('')
  })
})
