import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {groupMembers, isAlive, killGroup, listeningPorts, procStartTime, processTree, spawnShellGroup} from '../../src/core/process.js'
import {waitFor} from '../helpers/proc.js'

describe('process module', () => {
  it('killGroup ends a shell, its children and grandchildren, even ones that ignore SIGTERM', async () => {
    const child = spawnShellGroup(`sh -c 'trap "" TERM; sleep 300' & sleep 300 & node -e "setInterval(()=>{},1000)" & wait`, {
      cwd: '/tmp',
      env: process.env,
    })
    const pgid = child.pid!
    expect(await waitFor(() => groupMembers(pgid).length >= 4, 5000)).toBe(true)
    const members = groupMembers(pgid)
    const started = Date.now()
    await killGroup(pgid, {graceMs: 300})
    expect(Date.now() - started).toBeLessThan(7000)
    for (const pid of members) expect(isAlive(pid)).toBe(false)
    expect(groupMembers(pgid)).toEqual([])
  })

  it('isAlive is false for a zombie and for a pid whose start time differs (reuse)', async () => {
    const parent = spawn('sleep', ['5'], {stdio: 'ignore'})
    expect(isAlive(parent.pid!)).toBe(true)
    expect(isAlive(parent.pid!, procStartTime(parent.pid!))).toBe(true)
    expect(isAlive(parent.pid!, (procStartTime(parent.pid!) ?? 0) + 1)).toBe(false)
    parent.kill('SIGKILL')

    // `exec sleep 5` replaces the shell, so nobody waits for the background sleep: it stays a zombie,
    // which kill(pid, 0) would still call alive.
    const zombieParent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 5'], {stdio: ['ignore', 'pipe', 'ignore']})
    const bg = await new Promise<number>((resolve) =>
      zombieParent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    )
    expect(bg).toBeGreaterThan(0)
    expect(await waitFor(() => /\) Z /.test(readFileSync(`/proc/${bg}/stat`, 'utf8')), 3000)).toBe(true)
    expect(() => process.kill(bg, 0)).not.toThrow()
    expect(isAlive(bg)).toBe(false)
    zombieParent.kill('SIGKILL')
  })

  it('listeningPorts finds the sockets a process tree listens on', async () => {
    const child = spawnShellGroup(
      `node -e "require('net').createServer().listen(0,'127.0.0.1',function(){console.log(this.address().port)})"`,
      {cwd: '/tmp', env: process.env},
    )
    const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
    expect(listeningPorts(processTree(child.pid!))).toEqual([port])
    await killGroup(child.pid!, {graceMs: 500})
    expect(listeningPorts(processTree(child.pid!))).toEqual([])
  })
})

describe('process backend', () => {
  it('PREVIEW_PROCFS=0 really asks ps: with no ps on PATH, even a live pid reads as gone; /proc still sees it', async () => {
    const {spawnSync} = await import('node:child_process')
    // The built module (npm test builds first): a fresh process reads PREVIEW_PROCFS at load, as the CLI does.
    const probe = `import('${new URL('../../dist/core/process.js', import.meta.url).pathname}').then((m) => console.log(m.isAlive(process.pid)))`
    const run = (procfs: string) =>
      spawnSync(process.execPath, ['-e', probe], {
        encoding: 'utf8',
        env: {PATH: '/nonexistent', PREVIEW_PROCFS: procfs},
        timeout: 20_000,
      }).stdout.trim()
    expect(run('0')).toBe('false')
    expect(run('1')).toBe('true')
  })
})

describe('unsupported platforms', () => {
  it('refuses to run on Windows with what, why and what to do, exit 2', async () => {
    const {spawnSync} = await import('node:child_process')
    const fake = `data:text/javascript,Object.defineProperty(process, 'platform', {value: 'win32'})`
    const r = spawnSync(process.execPath, ['--import', fake, 'bin/run.js', 'list'], {encoding: 'utf8', timeout: 20_000})
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/does not run on Windows/)
    expect(r.stderr).toMatch(/WSL 2/)
    expect(r.stdout).toBe('')
  })
})
