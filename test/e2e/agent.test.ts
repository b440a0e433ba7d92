// What an agent would write: no TTY, JSON everywhere. Start, read `token`, fetch with Bearer, follow `events` and
// `logs --json` while a share, a revoke and a stop happen; each event appears and both streams end by themselves.
import {existsSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, ndjson, runCli, spawnCli} from '../helpers/cli.js'
import {pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

describe('an agent drives preview through --json', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo({body: 'agent app'})
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('start → Bearer fetch → events/logs streams see share, revoke and stop, then end', async () => {
    const start = await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const {preview_id: id, public_url: publicUrl, token} = json(start)
    expect(token).toMatch(/^ey/)
    const res = await fetch(publicUrl, {headers: {authorization: `Bearer ${token}`}})
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('agent app')
    expect((await fetch(publicUrl, {headers: {authorization: 'Bearer nope'}})).status).not.toBe(200)

    // No id: the only running preview.
    const events = spawnCli(['events', '--follow', '--json'], {cwd: repo.dir, timeoutMs: 45_000})
    const logs = spawnCli(['logs', '--follow', '--json', '--lines', '0'], {cwd: repo.dir, timeoutMs: 45_000})
    const seen = (name: string) => ndjson(events.stdout()).some((e) => e.event === name)
    expect(await waitFor(() => seen('ready'), 10_000), events.stderr()).toBe(true)

    const share = json(await runCli(['share', id, '--json'], {cwd: repo.dir}))
    expect(await waitFor(() => seen('link'), 10_000)).toBe(true)
    expect((await runCli(['revoke', id, '--link', share.jti, '--json'], {cwd: repo.dir})).code).toBe(0)
    expect(await waitFor(() => seen('revoke'), 10_000)).toBe(true)
    // The test server prints nothing per request: a restart makes it print its banner again, after following began.
    expect((await runCli(['restart', id, '--json'], {cwd: repo.dir})).code).toBe(0)
    expect(await waitFor(() => ndjson(logs.stdout()).some((l) => /Server listening/.test(l.line)), 10_000), logs.stderr()).toBe(true)

    const stop = await runCli(['stop', '--json'], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    // Both streams end by themselves once the preview has stopped.
    expect(await events.exited).toBe(0)
    expect(await logs.exited).toBe(0)

    const all = ndjson(events.stdout())
    expect(all.map((e) => e.event)).toEqual(['start', 'ready', 'link', 'revoke', 'restart', 'stop'])
    for (const e of all) expect(e).toMatchObject({at_epoch: expect.any(Number), preview_id: id})
    expect(all.find((e) => e.event === 'link')).toMatchObject({jti: share.jti})
    expect(all.at(-1)).toMatchObject({event: 'stop', reason: 'operator'})
    const lines = ndjson(logs.stdout())
    for (const l of lines) expect(l).toMatchObject({at_epoch: expect.any(Number), line: expect.any(String), preview_id: id})
    expect(lines.some((l) => l.line.includes('stopped'))).toBe(true) // the supervisor's last [preview] line
    expect(JSON.stringify(lines)).not.toContain(token) // secrets never reach the log
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)).toBe(true)
    // A stopped preview's events stay readable until cleanup removes them with its log.
    expect(ndjson((await runCli(['events', id, '--json'], {cwd: repo.dir})).stdout).at(-1)).toMatchObject({event: 'stop'})
    const eventsFile = path.join(repo.dir, '.sdd', 'runtime', 'preview', 'events', `${id}.jsonl`)
    expect(existsSync(eventsFile)).toBe(true)
    expect((await runCli(['cleanup', '--yes'], {cwd: repo.dir})).code).toBe(0)
    expect(existsSync(eventsFile)).toBe(false)
  })
  it('the supervisor reports idle, wake and crash as events', async () => {
    const start = await runCli(
      ['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--idle-ttl', '1s', '--auth', 'none', '--json'],
      {cwd: repo.dir},
    )
    expect(start.code, start.stderr).toBe(0)
    const {preview_id: id, public_url: publicUrl} = json(start)
    const names = async () => ndjson((await runCli(['events', id, '--json'], {cwd: repo.dir})).stdout).map((e) => e.event)
    expect(await waitFor(async () => (await names()).includes('idle'), 15_000)).toBe(true)
    expect((await fetch(publicUrl)).status).toBe(200) // wakes it
    expect(await waitFor(async () => (await names()).includes('wake'), 10_000)).toBe(true)
    expect((await runCli(['stop', id], {cwd: repo.dir})).code).toBe(0)

    // Another preview, without an idle TTL (an idle dev server has no pid to kill): its dev server dies.
    const other = json(
      await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--auth', 'none', '--json'], {
        cwd: repo.dir,
      }),
    )
    const pid = json(await runCli(['status', other.preview_id, '--json'], {cwd: repo.dir})).process_pid as number
    expect(pid).toBeGreaterThan(1) // never signal group 0 or -1 (this test runner's own, or everything)
    process.kill(-pid, 'SIGKILL') // the supervisor restarts it
    const otherNames = async () => ndjson((await runCli(['events', other.preview_id, '--json'], {cwd: repo.dir})).stdout)
    expect(await waitFor(async () => (await otherNames()).some((e) => e.event === 'crash'), 10_000)).toBe(true)
    expect((await otherNames()).find((e) => e.event === 'crash')).toMatchObject({preview_id: other.preview_id, source: 'supervisor'})
    expect((await runCli(['stop', other.preview_id], {cwd: repo.dir})).code).toBe(0)
  })
  it('both streams also end when the supervisor is killed -9 (nothing will write to them any more)', async () => {
    const row = json(await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir}))
    const events = spawnCli(['events', row.preview_id, '--follow', '--json'], {cwd: repo.dir, timeoutMs: 30_000})
    const logs = spawnCli(['logs', row.preview_id, '--follow', '--json'], {cwd: repo.dir, timeoutMs: 30_000})
    expect(await waitFor(() => ndjson(events.stdout()).some((e) => e.event === 'ready'), 10_000)).toBe(true)
    expect(row.supervisor_pid).toBeGreaterThan(1)
    process.kill(row.supervisor_pid, 'SIGKILL')
    expect(await events.exited).toBe(0)
    expect(await logs.exited).toBe(0)
    expect(json(await runCli(['status', row.preview_id, '--json'], {cwd: repo.dir})).status).toBe('crashed')
    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0) // cleans up the dev server
  })
})
