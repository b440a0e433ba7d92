// A host preview on the supervisor's state machine, as the host sees it (state and status JSON): an idle wake
// shows `starting` (the supervisor's `restarting`), a stop while starting leaves `stopped` and no process.
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {PreviewRunner, type RunnerSpec} from '../../src/core/host/runner.js'
import {sddPaths} from '../../src/core/records/paths.js'
import {alive, pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo} from '../helpers/repo.js'

describe('PreviewRunner states', () => {
  const repo = makeRepo()
  // Listens after DELAY_MS (0 by default), printing its address.
  repo.write(
    'slow.js',
    `setTimeout(()=>require('http').createServer((q,s)=>s.end('up')).listen(process.env.PORT,'127.0.0.1',()=>console.log('Local: http://localhost:'+process.env.PORT)), Number(process.env.DELAY_MS||0))`,
  )
  repo.commit('slow')
  afterAll(() => repo.cleanup())

  const spec = (env: NodeJS.ProcessEnv = {}): RunnerSpec => ({
    autoPullMs: null,
    branch: true,
    configCommand: 'node slow.js',
    env: {...process.env, ...env},
    label: null,
    maxRestarts: 3,
    name: 'main',
    paths: sddPaths(path.join(repo.dir, '.sdd')),
    readyTimeoutMs: 10_000,
    ref: 'main',
    root: repo.dir,
  })

  it('idle, then a wake that shows as starting until the dev server answers again', async () => {
    const events: string[] = []
    const runner = new PreviewRunner(spec({DELAY_MS: '600'}), (e) => events.push(e))
    await runner.ensure()
    expect(runner.state).toBe('running')
    const pid = runner.status().pid!
    await runner.checkIdle(0)
    expect(runner.state).toBe('idle')
    expect(runner.status().status).toBe('idle')
    expect(alive(pid)).toBe(false)
    const wake = runner.ensure()
    expect(await waitFor(() => runner.state === 'starting', 2000)).toBe(true)
    expect(runner.status().status).toBe('starting')
    await wake
    expect(runner.state).toBe('running')
    expect(events).toEqual(['start', 'idle', 'wake'])
    await runner.stop()
    expect(runner.state).toBe('stopped')
    expect(pidsInside(repo.dir)).toEqual([])
  })

  it('stop while starting: the start fails, the state is stopped (not crashed), nothing is left', async () => {
    const runner = new PreviewRunner(spec({DELAY_MS: '5000'}))
    const start = runner.ensure()
    start.catch(() => {})
    expect(await waitFor(() => runner.status().pid !== null, 10_000)).toBe(true)
    expect(runner.state).toBe('starting')
    await runner.stop()
    await expect(start).rejects.toThrow()
    expect(runner.state).toBe('stopped')
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    await expect(runner.ensure()).rejects.toThrow(/shutting down/)
  })
})
