// run() goes through node:child_process until the process has loaded execa (the short CLI never does), through
// execa after (the supervisor, `preview serve`). Callers cannot tell which: the same commands give the same
// results both ways. The two tests run in order in one module instance: first before, then after loadExeca().
import {afterAll, describe, expect, it} from 'vitest'
import {execaLoaded, loadExeca, run, spawnExecaGroup, groupMembers} from '../../src/core/process.js'
import {waitFor} from '../helpers/proc.js'
import {makeRepo} from '../helpers/repo.js'

const repo = makeRepo()
afterAll(() => repo.cleanup())

process.env.PREVIEW_TEST_PARENT_ONLY = 'leaked'
const env = {ONLY_HERE: 'y', PATH: process.env.PATH}

/** What a caller sees of each case (the timing of the timeout as a bound, not a figure). */
async function cases() {
  const t0 = Date.now()
  const slow = await run('sh', ['-c', 'sleep 5'], {cwd: repo.dir, env, timeoutMs: 300})
  const slowMs = Date.now() - t0
  const t1 = Date.now()
  const big = await run('sh', ['-c', 'head -c 10000000 /dev/zero; exit 1'], {cwd: repo.dir, env})
  const bigMs = Date.now() - t1
  return {
    // A failing command with a lot of output: its output in full, and no time spent on it (execa's own buffering
    // folds it into an error message: 18 s and 700 MiB for this one).
    bigFailure: {exitCode: big.exitCode, quick: bigMs < 5000, stdoutBytes: big.stdout.length},
    crlf: await run('sh', ['-c', "printf 'x\\r\\n\\n'"], {cwd: repo.dir, env}),
    env: await run('sh', ['-c', 'echo "[$PREVIEW_TEST_PARENT_ONLY][$ONLY_HERE]"'], {cwd: repo.dir, env}),
    failing: await run('sh', ['-c', 'echo out; echo err >&2; exit 3'], {cwd: repo.dir, env}),
    git: await run('git', ['rev-parse', '--is-inside-work-tree'], {cwd: repo.dir, env}),
    gitOutside: (await run('git', ['rev-parse', '--show-toplevel'], {cwd: '/', env})).exitCode,
    input: await run('cat', [], {cwd: repo.dir, env, input: 'hello\n'}),
    missing: await run('/nonexistent/tool', ['x'], {cwd: repo.dir, env}),
    missingCwd: (await run('sh', ['-c', 'true'], {cwd: '/nonexistent/dir', env})).exitCode,
    overflow: await run('sh', ['-c', 'head -c 70000000 /dev/zero; sleep 5'], {cwd: repo.dir, env}).then((r) => ({
      exitCode: r.exitCode,
      timedOut: r.timedOut,
    })),
    slow: {...slow, boundedByTimeout: slowMs < 3000},
  }
}

const EXPECTED = {
  bigFailure: {exitCode: 1, quick: true, stdoutBytes: 10_000_000},
  crlf: {exitCode: 0, stderr: '', stdout: 'x\r\n', timedOut: false},
  env: {exitCode: 0, stderr: '', stdout: '[][y]', timedOut: false},
  failing: {exitCode: 3, stderr: 'err', stdout: 'out', timedOut: false},
  git: {exitCode: 0, stderr: '', stdout: 'true', timedOut: false},
  gitOutside: 128,
  input: {exitCode: 0, stderr: '', stdout: 'hello', timedOut: false},
  missing: {exitCode: 127, stderr: '', stdout: '', timedOut: false},
  missingCwd: 127,
  overflow: {exitCode: 127, timedOut: false}, // past the 64 MiB buffer: killed, not a timeout
  slow: {boundedByTimeout: true, exitCode: 124, stderr: '', stdout: '', timedOut: true},
}

describe('run(): the same results through node:child_process and through execa', () => {
  it('before execa is loaded (node:child_process)', async () => {
    expect(execaLoaded()).toBe(false)
    expect(await cases()).toEqual(EXPECTED)
    expect(execaLoaded()).toBe(false) // run() never loads it itself: that would cost the CLI's start path
  })

  it('after loadExeca() (execa)', async () => {
    await loadExeca()
    expect(execaLoaded()).toBe(true)
    expect(await cases()).toEqual(EXPECTED)
  })
})

describe('spawnExecaGroup', () => {
  it('leads its own process group, streams output unbuffered, and settles with the exit code', async () => {
    const {child} = await spawnExecaGroup('sh', ['-c', 'echo ready; sleep 0.3 & wait; exit 7'], {cwd: repo.dir, env})
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += String(d)))
    expect(await waitFor(() => out.includes('ready'), 3000)).toBe(true)
    expect(groupMembers(child.pid!).length).toBeGreaterThanOrEqual(2) // sh and its sleep, in the group of sh's pid
    const result = await child
    expect(result.exitCode).toBe(7)
    expect(result.stdout).toBeUndefined() // not buffered: a long-running tool's output is read as it comes
    expect(groupMembers(child.pid!)).toEqual([])
  })
})
