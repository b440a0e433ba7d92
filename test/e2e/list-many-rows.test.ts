// `list` with many rows reconciles them without a process spawn per row (issue 17): with PREVIEW_PROCFS=0 (the ps
// backend, as on macOS) it asks ps once for all of them, and still tells the live supervisors from the dead ones.
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, ROOT, runCli} from '../helpers/cli.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const ROWS = 200

function row(i: number, dir: string, supervisor: {pid: number; startTime: number}) {
  const id = `p-${String(i).padStart(8, '0')}`
  return {
    auth_mode: 'token',
    command: 'node server.js',
    commit: null,
    created_at_epoch: 1_700_000_000,
    cwd: dir,
    expires_at_epoch: 4_000_000_000,
    gateway_port: 30_000 + i,
    links: [{auth_mode: 'token', created_at_epoch: 1_700_000_000, expires_at_epoch: 4_000_000_000, jti: `j${i}`, revoked: false}],
    port: 20_000 + i,
    preview_id: id,
    process_pid: null,
    public_url: `http://127.0.0.1:${30_000 + i}`,
    ref: null,
    restarts: 0,
    sandbox_backend: 'cwd',
    sandbox_session_id: null,
    share_url: `http://127.0.0.1:${30_000 + i}/?token=secret${i}`,
    status: 'running',
    // Even rows name the live process with its start time; odd rows a pid far above any in use.
    supervisor_pid: i % 2 === 0 ? supervisor.pid : 3_900_000 + i,
    supervisor_start_time: i % 2 === 0 ? supervisor.startTime : 1,
    tunnel_name: null,
    tunnel_provider: 'local',
  }
}

describe('list with many rows', () => {
  let repo: TempRepo
  let bin: string
  let sleeper: ReturnType<typeof spawn>
  beforeAll(() => {
    repo = makeRepo()
    sleeper = spawn('sleep', ['60'], {stdio: 'ignore'})
    // A ps that counts its runs, then is the real one.
    bin = mkdtempSync(path.join(os.tmpdir(), 'preview-ps-'))
    const realPs = spawnSync('sh', ['-c', 'command -v ps'], {encoding: 'utf8'}).stdout.trim()
    writeFileSync(path.join(bin, 'ps'), `#!/bin/sh\necho run >> "${bin}/count"\nexec ${realPs} "$@"\n`)
    chmodSync(path.join(bin, 'ps'), 0o755)
  })
  afterAll(() => {
    sleeper.kill('SIGKILL')
    rmSync(bin, {force: true, recursive: true})
    repo.cleanup()
  })

  it('PREVIEW_PROCFS=0: one ps for all rows, the live half running, the dead half crashed', async () => {
    // The live process's start time as the ps backend reads it (epoch seconds from lstart), from the built module.
    const probe = `import(${JSON.stringify(path.join(ROOT, 'dist/core/process.js'))}).then((m) => console.log(m.procStartTime(${sleeper.pid})))`
    const startTime = Number(
      spawnSync(process.execPath, ['-e', probe], {encoding: 'utf8', env: {...process.env, PREVIEW_PROCFS: '0'}}).stdout,
    )
    expect(startTime).toBeGreaterThan(0)
    const stateDir = path.join(repo.dir, '.sdd', 'runtime', 'preview')
    mkdirSync(stateDir, {recursive: true})
    const previews = Array.from({length: ROWS}, (_, i) => row(i, repo.dir, {pid: sleeper.pid!, startTime}))
    writeFileSync(path.join(stateDir, 'state.json'), JSON.stringify({previews, version: 1}, null, 2), {mode: 0o600})

    const env = {PATH: `${bin}:${process.env.PATH}`, PREVIEW_PROCFS: '0'}
    const list = await runCli(['list', '--json'], {cwd: repo.dir, env})
    expect(list.code, list.stderr).toBe(0)
    const rows = json<Array<{preview_id: string; status: string; share_url: string}>>(list)
    expect(rows).toHaveLength(ROWS)
    expect(rows.filter((r, i) => r.status !== (i % 2 === 0 ? 'running' : 'crashed'))).toEqual([])
    expect(rows[0]!.share_url).toBe('http://127.0.0.1:30000/?token=***')
    expect(readFileSync(path.join(bin, 'count'), 'utf8').trim().split('\n')).toHaveLength(1)

    // The human table says the same.
    rmSync(path.join(bin, 'count'))
    const human = await runCli(['list'], {cwd: repo.dir, env})
    expect(human.code, human.stderr).toBe(0)
    const lines = human.stdout.trim().split('\n')
    expect(lines).toHaveLength(ROWS + 1)
    expect(lines[1]).toMatch(/^p-00000000 +running /)
    expect(lines[2]).toMatch(/^p-00000001 +crashed /)
    expect(readFileSync(path.join(bin, 'count'), 'utf8').trim().split('\n')).toHaveLength(1)
  })
})
