// A state.json that parses but has the wrong shape, met by a running preview: it keeps serving, and stop still works.
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {alive, pidsInside, portOpen, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

describe('a wrong-shaped state.json row', () => {
  let repo: TempRepo
  let stateFile: string
  beforeAll(() => {
    repo = makeRepo()
    stateFile = path.join(repo.dir, '.sdd', 'runtime', 'preview', 'state.json')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  const readRow = (id: string) => (JSON.parse(readFileSync(stateFile, 'utf8')).previews as any[]).find((r) => r.preview_id === id)
  // As another process would: whole file, renamed into place.
  const editRow = (id: string, patch: Record<string, unknown>) => {
    const state = JSON.parse(readFileSync(stateFile, 'utf8'))
    Object.assign(
      state.previews.find((r: any) => r.preview_id === id),
      patch,
    )
    writeFileSync(`${stateFile}.edit`, JSON.stringify(state, null, 2))
    renameSync(`${stateFile}.edit`, stateFile)
  }

  it('links: null does not stop the supervisor: the old link keeps working, the row gets its links back, revoke and stop still work', async () => {
    const start = await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const first = await fetch(row.share_url, {redirect: 'manual'})
    expect(first.status).toBe(302)
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!
    const jti = readRow(row.preview_id).links[0].jti as string

    editRow(row.preview_id, {links: null, port: 'x', restarts: -1})
    // The supervisor reads the change (within LINKS_POLL_MS) and writes back the links it had.
    expect(await waitFor(() => Array.isArray(readRow(row.preview_id).links), 5000)).toBe(true)
    expect(readRow(row.preview_id).links.map((l: any) => l.jti)).toEqual([jti])
    expect(readRow(row.preview_id)).toMatchObject({port: 'x', restarts: -1}) // not ours to guess: left as found
    expect(alive(row.supervisor_pid)).toBe(true)
    const list = await runCli(['list', '--json'], {cwd: repo.dir})
    expect(list.code, list.stderr).toBe(0)
    expect(json(list)).toEqual([
      expect.objectContaining({links: [expect.objectContaining({jti})], port: null, preview_id: row.preview_id, restarts: 0}),
    ])
    expect((await fetch(row.public_url, {headers: {cookie}})).status).toBe(200)
    expect((await fetch(row.share_url, {redirect: 'manual'})).status).toBe(302)
    const log = readFileSync(path.join(repo.dir, '.sdd', 'runtime', 'preview', 'logs', `${row.preview_id}.log`), 'utf8')
    expect(log).toMatch(/wrong-shaped fields.*links is not Array/)
    expect(log).not.toContain(new URL(row.share_url).searchParams.get('token')!)

    // A link entry of the wrong shape next to good ones: the good ones still count, the broken one is dropped.
    editRow(row.preview_id, {links: [{jti: 5}, ...readRow(row.preview_id).links]})
    expect(await waitFor(() => readRow(row.preview_id).links.every((l: any) => typeof l.jti === 'string'), 5000)).toBe(true)
    expect((await fetch(row.public_url, {headers: {cookie}})).status).toBe(200)
    const status = json(await runCli(['status', row.preview_id, '--json'], {cwd: repo.dir}))
    expect(status.links.map((l: any) => l.jti)).toEqual([jti])

    // The row is whole again: revocation reaches the gateway, stop cleans up everything.
    const revoke = await runCli(['revoke', row.preview_id, '--all-links', '--json'], {cwd: repo.dir})
    expect(json(revoke).revoked).toEqual([jti])
    expect(await waitFor(async () => (await fetch(row.public_url, {headers: {cookie}})).status === 403, 3000)).toBe(true)
    const stop = await runCli(['stop', row.preview_id], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    expect(await waitFor(() => !alive(row.supervisor_pid) && !alive(row.process_pid), 5000)).toBe(true)
    expect(await portOpen(row.gateway_port)).toBe(false)
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
  })
})

describe('a row whose preview_id is not a string', () => {
  let repo: TempRepo
  let stateFile: string
  beforeAll(() => {
    repo = makeRepo()
    stateFile = path.join(repo.dir, '.sdd', 'runtime', 'preview', 'state.json')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('is hidden from commands but kept, and the preview it may be keeps serving; put back, stop works', async () => {
    const start = await runCli(['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--command', 'node server.js', '--json'], {
      cwd: repo.dir,
    })
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const good = readFileSync(stateFile, 'utf8')
    writeFileSync(stateFile, good.replace(`"preview_id": "${row.preview_id}"`, '"preview_id": 7'))
    const log = () => readFileSync(path.join(repo.dir, '.sdd', 'runtime', 'preview', 'logs', `${row.preview_id}.log`), 'utf8')
    expect(await waitFor(() => /without a readable preview_id/.test(log()), 5000)).toBe(true)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
    expect((await fetch(row.public_url)).status).toBe(200)
    expect(alive(row.supervisor_pid)).toBe(true)
    const cleanup = await runCli(['cleanup', '--yes'], {cwd: repo.dir})
    expect(cleanup.code).toBe(1)
    expect(cleanup.stderr).toMatch(/preview_id is not/)

    writeFileSync(stateFile, good)
    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
    expect(await waitFor(() => !alive(row.supervisor_pid) && pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })
})

describe('an unparseable state.json under a running preview', () => {
  let repo: TempRepo
  let stateFile: string
  beforeAll(() => {
    repo = makeRepo()
    stateFile = path.join(repo.dir, '.sdd', 'runtime', 'preview', 'state.json')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('going idle, waking and restarting while state.json does not parse: the preview keeps serving; fixed, stop works', async () => {
    const start = await runCli(
      ['start', '--provider', 'local', '--auth', 'none', '--cwd', '.', '--command', 'node server.js', '--idle-ttl', '1s', '--json'],
      {cwd: repo.dir},
    )
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const good = readFileSync(stateFile, 'utf8')
    writeFileSync(stateFile, good.slice(0, 40))
    const log = () => readFileSync(path.join(repo.dir, '.sdd', 'runtime', 'preview', 'logs', `${row.preview_id}.log`), 'utf8')
    // Idle: the dev server is stopped; its row cannot be updated.
    expect(await waitFor(() => /idle for/.test(log()) && !alive(row.process_pid), 10_000)).toBe(true)
    expect(await waitFor(() => /state\.json cannot be read/.test(log()), 5000)).toBe(true)
    const woken = await fetch(row.public_url)
    expect(woken.status).toBe(200)
    expect(await woken.text()).toContain('hello from the app')
    // `preview restart` cannot run (the CLI cannot read the state); the signal it would send must not kill it either.
    process.kill(row.supervisor_pid, 'SIGUSR2')
    expect(await waitFor(async () => /restarted on port/.test(log()), 10_000)).toBe(true)
    expect((await fetch(row.public_url)).status).toBe(200)
    expect(alive(row.supervisor_pid)).toBe(true)

    writeFileSync(stateFile, good)
    const stop = await runCli(['stop', row.preview_id], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    expect(await waitFor(() => !alive(row.supervisor_pid), 5000)).toBe(true)
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    expect(await portOpen(row.gateway_port)).toBe(false)
  })
})
