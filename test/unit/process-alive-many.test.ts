// areAlive (list's one liveness read for all rows) answers as isAlive does for each entry, on both backends:
// /proc, and ps (PREVIEW_PROCFS=0, one `ps -A` for all pids instead of a `ps -p` per row).
import {spawn, spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {waitFor} from '../helpers/proc.js'

const MODULE = new URL('../../dist/core/process.js', import.meta.url).pathname

/** In a fresh process (PREVIEW_PROCFS is read at load, as in the CLI): [areAlive(entries), entries.map(isAlive)]. */
function both(entries: Array<{pid: number | null; startTime?: number | null}>, procfs: '0' | '1'): [boolean[], boolean[]] {
  const probe = `import(${JSON.stringify(MODULE)}).then((m) => { const e = ${JSON.stringify(entries)};
    console.log(JSON.stringify([m.areAlive(e), e.map((x) => m.isAlive(x.pid, x.startTime))])) })`
  const res = spawnSync(process.execPath, ['-e', probe], {encoding: 'utf8', env: {...process.env, PREVIEW_PROCFS: procfs}, timeout: 20_000})
  return JSON.parse(res.stdout) as [boolean[], boolean[]]
}

describe('areAlive', () => {
  const children: Array<ReturnType<typeof spawn>> = []
  let live = 0
  let zombie = 0

  beforeAll(async () => {
    const sleeper = spawn('sleep', ['30'], {stdio: 'ignore'})
    children.push(sleeper)
    live = sleeper.pid!
    // `exec sleep 30` replaces the shell, so nobody reaps the background sleep: it stays a zombie.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], {stdio: ['ignore', 'pipe', 'ignore']})
    children.push(parent)
    zombie = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
    expect(await waitFor(() => /\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')), 3000)).toBe(true)
  })

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL')
  })

  for (const procfs of ['1', '0'] as const) {
    it(`answers as isAlive for each entry (PREVIEW_PROCFS=${procfs}): live, reused, zombie, gone, none, repeated`, () => {
      // The start time as this backend reads it: ask the same module (ticks from /proc, epoch seconds from ps).
      const startProbe = `import(${JSON.stringify(MODULE)}).then((m) => console.log(m.procStartTime(${live})))`
      const start = Number(
        spawnSync(process.execPath, ['-e', startProbe], {encoding: 'utf8', env: {...process.env, PREVIEW_PROCFS: procfs}}).stdout.trim(),
      )
      expect(start).toBeGreaterThan(0)
      const entries = [
        {pid: live, startTime: start},
        {pid: live, startTime: start + 1},
        {pid: live},
        {pid: zombie},
        {pid: 3_999_999, startTime: 1},
        {pid: null},
        {pid: live, startTime: start},
      ]
      const [many, each] = both(entries, procfs)
      expect(many).toEqual([true, false, true, false, false, false, true])
      expect(many).toEqual(each)
    })
  }
})
