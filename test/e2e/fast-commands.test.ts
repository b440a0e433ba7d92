// list, status and stop answer plain invocations without loading oclif (bin/run.js -> src/cli/fast-commands.ts).
// Whatever the path, the user sees the same: each invocation is run both ways and the outputs compared.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseFastArgv} from '../../src/cli/fast-commands.js'
import {json, runCli} from '../helpers/cli.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const OCLIF = {...process.env, PREVIEW_NO_FAST_START: '1'}

describe('fast list/status/stop agree with oclif', () => {
  let repo: TempRepo
  let id: string
  beforeAll(async () => {
    repo = makeRepo()
    const start = await runCli(['start', '--provider', 'local', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    id = json(start).preview_id
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('the same stdout, stderr and exit code for each invocation', async () => {
    const cases = [
      ['list'],
      ['list', '--json'],
      ['list', '--all'],
      ['list', '--show-secrets', '--json'],
      ['list', '--bogus'],
      ['list', '--bogus', '--json'],
      ['status'],
      ['status', '--json'],
      ['status', id, '--show-secrets'],
      ['status', 'p-deadbeef'],
      ['status', '--json', 'p-deadbeef'],
      ['stop', 'p-deadbeef'],
      ['stop', '--json', 'p-deadbeef'],
      ['status', 'a', 'b'],
    ]
    for (const args of cases) {
      const [fast, slow] = await Promise.all([runCli(args, {cwd: repo.dir}), runCli(args, {cwd: repo.dir, env: OCLIF})])
      // "expires in" may tick between the two runs; everything else is the same to the byte.
      const norm = (s: string) => s.replaceAll(/\d+m\d*s?|\d+h\d*m?|\d+s/g, 'T')
      expect({args, code: fast.code, stderr: norm(fast.stderr), stdout: norm(fast.stdout)}).toEqual({
        args,
        code: slow.code,
        stderr: norm(slow.stderr),
        stdout: norm(slow.stdout),
      })
    }
  })

  it('stop by the fast path stops the preview as oclif would', async () => {
    const stop = await runCli(['stop', '--json'], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    expect(json(stop)).toEqual([expect.objectContaining({preview_id: id})])
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
  })

  it('hands help, unknown and repeated flags to oclif', () => {
    for (const argv of [['--help'], ['--bogus'], ['--json', '--json'], ['--all=1'], ['--', 'x']])
      expect(parseFastArgv('list', argv)).toBeNull()
    expect(parseFastArgv('list', ['x'])).toBeNull()
    expect(parseFastArgv('status', ['a', 'b'])).toBeNull()
    expect(parseFastArgv('stop', ['a', 'b', '--all'])).toEqual({flags: {all: true}, json: false, positionals: ['a', 'b']})
  })
})
