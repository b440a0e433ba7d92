// What `preview stop` waits for, and what it must not wait for: killGroup returns only once the whole group is gone
// (also a member that joined after the SIGTERM), and the adopted dev server's exit watch does not keep a
// supervisor alive after its teardown (it held every stop up to 100 ms: bench/stop.mjs).
import {spawn, spawnSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {groupMembers, killGroup, spawnShellGroup} from '../../src/core/process.js'
import {waitFor} from '../helpers/proc.js'

describe('stop waits for what matters', () => {
  it('killGroup waits out a process that joined the group after the SIGTERM, and SIGKILLs it after the grace', async () => {
    // On SIGTERM the leader starts a sleep (which never got the signal) in its own group, then exits.
    const child = spawnShellGroup(`trap 'sleep 300 & exit 0' TERM; while :; do sleep 0.05; done`, {cwd: '/tmp', env: process.env})
    const pgid = child.pid!
    expect(await waitFor(() => groupMembers(pgid).length >= 2, 5000)).toBe(true)
    const started = Date.now()
    await killGroup(pgid, {graceMs: 300})
    // The newcomer lived through the grace: only the SIGKILL after it ended it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    expect(groupMembers(pgid)).toEqual([])
  })

  it("a process watching an adopted dev server's exit still exits when it has nothing else to do", async () => {
    const watched = spawn('sleep', ['30'], {stdio: 'ignore'})
    try {
      // The built module (npm test builds first), in a process of its own: whether it exits is the question.
      const script = `import('${new URL('../../dist/core/supervisor/dev-server.js', import.meta.url).pathname}').then((m) => { m.watchExit(${watched.pid}, null); console.log('watching') })`
      const res = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', timeout: 5000})
      expect(res.stdout.trim()).toBe('watching')
      expect(res.signal).toBeNull() // not killed by the timeout: it exited on its own, the sleep still running
      expect(res.status).toBe(0)
    } finally {
      watched.kill('SIGKILL')
    }
  })
})
