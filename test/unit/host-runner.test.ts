// One preview runner of `preview serve` against a real repository and real processes: crash restarts up to the
// limit, then `crashed`; the next ensure() starts it again; stop() leaves no process.
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {PreviewRunner} from '../../src/core/host/runner.js'
import {sddPaths} from '../../src/core/records/paths.js'
import {alive, pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo} from '../helpers/repo.js'

describe('PreviewRunner', () => {
  const repo = makeRepo()
  repo.write(
    'crashy.js',
    `require('http').createServer((q,s)=>s.end('up')).listen(process.env.PORT,'127.0.0.1',()=>console.log('Local: http://localhost:'+process.env.PORT)); setTimeout(()=>process.exit(1),1500)`,
  )
  repo.commit('crashy')
  afterAll(() => repo.cleanup())

  it('restarts a crashing dev server 3 times, then is crashed; a new ensure() starts it again', async () => {
    const events: string[] = []
    const runner = new PreviewRunner(
      {
        autoPullMs: null,
        branch: true,
        configCommand: 'node crashy.js',
        env: process.env,
        label: null,
        maxRestarts: 3,
        name: 'main',
        paths: sddPaths(path.join(repo.dir, '.sdd')),
        readyTimeoutMs: 10_000,
        ref: 'main',
        root: repo.dir,
      },
      (e) => events.push(e),
    )
    await runner.ensure().catch((error: Error) => {
      throw new Error(`${error.message}\n${runner.status().recent_logs.join('\n')}`)
    })
    expect(runner.state).toBe('running')
    expect(await waitFor(() => runner.state === 'crashed', 30_000)).toBe(true)
    expect(events).toEqual(['start', 'restart', 'restart', 'restart', 'crash'])
    expect(runner.status().restart_attempts).toBe(3)
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    await runner.ensure()
    expect(runner.state).toBe('running')
    const pid = runner.status().pid!
    await runner.stop()
    expect(alive(pid)).toBe(false)
    expect(pidsInside(repo.dir)).toEqual([])
  })

  it('stopped during a crash restart backoff: what the crashed server left in its group goes too', async () => {
    // The dev command leaves a helper running in its process group; the server itself crashes after 1.5 s.
    const runner = new PreviewRunner({
      autoPullMs: null,
      branch: true,
      configCommand: 'node -e "setInterval(() => {}, 1000)" & node crashy.js',
      env: process.env,
      label: null,
      maxRestarts: 3,
      name: 'main',
      paths: sddPaths(path.join(repo.dir, '.sdd')),
      readyTimeoutMs: 10_000,
      ref: 'main',
      root: repo.dir,
    })
    await runner.ensure()
    const pid = runner.status().pid!
    expect(await waitFor(() => !alive(pid), 10_000)).toBe(true) // crashed: the runner is in its 500 ms backoff now
    await runner.stop()
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 3000), JSON.stringify(pidsInside(repo.dir))).toBe(true)
  })
})
