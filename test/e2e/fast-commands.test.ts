// list, status, stop, logs and share answer plain invocations without loading oclif (bin/run.js ->
// src/cli/fast-commands.ts). Whatever the path, the user sees the same: each invocation is run both ways and the
// outputs compared.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {FlagInvalidOptionError, FlagParsingError, parseFastArgv} from '../../src/cli/fast-commands.js'
import {json, ndjson, runCli, spawnCli} from '../helpers/cli.js'
import {waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const OCLIF = {...process.env, PREVIEW_NO_FAST_START: '1'}

/** Runs `args` by the fast path and through oclif at once; both results, with what may differ between runs masked. */
async function bothWays(args: string[], cwd: string, mask: (s: string) => string = (s) => s) {
  const [fast, slow] = await Promise.all([runCli(args, {cwd}), runCli(args, {cwd, env: OCLIF})])
  // "expires in" may tick between the two runs; everything else is the same to the byte.
  const norm = (s: string) => mask(s).replaceAll(/\d+m\d*s?|\d+h\d*m?|\d+s/g, 'T')
  return {
    fast: {args, code: fast.code, stderr: norm(fast.stderr), stdout: norm(fast.stdout)},
    slow: {args, code: slow.code, stderr: norm(slow.stderr), stdout: norm(slow.stdout)},
  }
}

describe('fast list/status/stop/logs/share agree with oclif', () => {
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
      const {fast, slow} = await bothWays(args, repo.dir)
      expect(fast).toEqual(slow)
    }
  })

  it('logs: the same lines, JSON and errors, bad values included', async () => {
    const cases = [
      ['logs'],
      ['logs', '--json'],
      ['logs', id, '-n', '2'],
      ['logs', '--lines=3', '--json'],
      ['logs', '--lines', '0', '--json'],
      ['logs', '-n', 'abc'],
      ['logs', '-n', 'abc', '--json'],
      ['logs', '--lines', '1.5', '--json'],
      ['logs', '--lines', '-1'],
      ['logs', '--lines=-1', '--json'],
      ['logs', '--lines'],
      ['logs', '-n5'],
      ['logs', '--bogus'],
      ['logs', '--bogus', '--json'],
      ['logs', '-x', '--json'],
      ['logs', 'p-deadbeef'],
      ['logs', '--json', 'p-deadbeef'],
      ['logs', 'a', 'b'],
    ]
    for (const args of cases) {
      const {fast, slow} = await bothWays(args, repo.dir)
      expect(fast).toEqual(slow)
    }
  })

  it('share: the same errors; a link minted either way reads the same but for its own credential', async () => {
    const cases = [
      ['share', '--auth', 'nope'],
      ['share', '--auth', 'nope', '--json'],
      ['share', '--auth', 'basic'],
      ['share', '--expire', '3x'],
      ['share', '--expire', '3x', '--json'],
      ['share', '--expire', '99d', '--json'],
      ['share', '--expire'],
      ['share', '--bogus', '--json'],
      ['share', 'p-deadbeef'],
      ['share', '--json', 'p-deadbeef'],
    ]
    for (const args of cases) {
      const {fast, slow} = await bothWays(args, repo.dir)
      expect(fast).toEqual(slow)
    }

    const minted = (s: string) =>
      s
        .replaceAll(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, 'TOKEN')
        .replaceAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'JTI')
        .replaceAll(/\b\d{10}\b/g, 'EPOCH')
    for (const args of [['share'], ['share', id, '--expire', '30m', '--auth', 'token', '--json']]) {
      const {fast, slow} = await bothWays(args, repo.dir, minted)
      expect(fast.code, fast.stderr).toBe(0)
      expect(fast).toEqual(slow)
      expect(fast.stdout).toContain('TOKEN')
    }

    const links = json(await runCli(['status', id, '--json'], {cwd: repo.dir})).links as unknown[]
    expect(links).toHaveLength(5) // the first link and the two minted by each path
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
    // logs and share: the forms the fast path reads, and the ones oclif reads its own way.
    expect(parseFastArgv('logs', ['-f', '-n', '5', 'p-1'])).toEqual({flags: {follow: true, lines: 5}, json: false, positionals: ['p-1']})
    expect(parseFastArgv('logs', ['--lines=7', '--json'])).toEqual({flags: {follow: false, lines: 7}, json: true, positionals: []})
    expect(parseFastArgv('logs', [])).toEqual({flags: {follow: false, lines: 100}, json: false, positionals: []})
    for (const argv of [
      ['-fn', '5'],
      ['-n5'],
      ['-n=5'],
      ['--follow=1'],
      ['-n', '-1'],
      ['--lines=-1'],
      ['--lines='],
      ['-n', '1', '-n', '2'],
    ])
      expect(parseFastArgv('logs', argv), argv.join(' ')).toBeNull()
    expect(() => parseFastArgv('logs', ['-n', 'abc'])).toThrow(FlagParsingError)
    expect(() => parseFastArgv('share', ['--auth', 'nope'])).toThrow(FlagInvalidOptionError)
    expect(parseFastArgv('share', ['--expire', '30m', '--auth=basic'])).toEqual({
      flags: {auth: 'basic', expire: '30m'},
      json: false,
      positionals: [],
    })
  })

  it('logs --follow: the same stream both ways, to the last line of a stopping supervisor', async () => {
    const started = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: repo.dir})
    expect(started.code, started.stderr).toBe(0)
    const followed = json(started).preview_id as string
    const followers = [
      spawnCli(['logs', '--follow'], {cwd: repo.dir, timeoutMs: 30_000}),
      spawnCli(['logs', '--follow'], {cwd: repo.dir, env: OCLIF, timeoutMs: 30_000}),
      spawnCli(['logs', '-f', '--json', followed], {cwd: repo.dir, timeoutMs: 30_000}),
      spawnCli(['logs', '-f', '--json', followed], {cwd: repo.dir, env: OCLIF, timeoutMs: 30_000}),
    ]
    // Each has printed the backlog: from then on it is following.
    expect(await waitFor(() => followers.every((f) => f.stdout().includes('\n')), 15_000)).toBe(true)
    const stop = await runCli(['stop', followed], {cwd: repo.dir})
    expect(stop.code, stop.stderr).toBe(0)
    const codes = await Promise.all(followers.map((f) => f.exited))
    expect(codes).toEqual([0, 0, 0, 0])
    const [fast, slow, fastJson, slowJson] = followers
    expect(fast!.stdout()).toContain('stopping (operator)')
    expect({stderr: fast!.stderr(), stdout: fast!.stdout()}).toEqual({stderr: slow!.stderr(), stdout: slow!.stdout()})
    const lines = (f: typeof fast) => ndjson(f!.stdout()).map((l) => ({...l, at_epoch: typeof l.at_epoch}))
    expect(lines(fastJson)).toEqual(lines(slowJson))
    expect(lines(fastJson)).toContainEqual(expect.objectContaining({backlog: false, line: expect.stringContaining('stopping (operator)')}))
    expect(fastJson!.stderr()).toBe(slowJson!.stderr())
  })
})
