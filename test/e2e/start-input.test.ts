// Start input that can never work, through both flag parsers (the fast path and oclif's): exit 2, a message
// saying what, why and what to do, and nothing started, recorded or left running.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {pidsInside, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

describe('start refuses input it cannot run', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  const cases: Array<[string, string[], RegExp, RegExp]> = [
    ['--cwd <a file>', ['--cwd', 'server.js'], /--cwd .*server\.js is a file, not a directory/, /Pass the directory of a git checkout/],
    ["--command ''", ['--command', ''], /--command is empty: there is no dev command to run/, /leave --command out to use discovery/],
    ["--command '   '", ['--command', '   '], /--command is blank: there is no dev command to run/, /leave --command out to use discovery/],
  ]

  // --foreground hands the command to oclif; without it the start fast path parses the flags.
  for (const [parser, extra] of [
    ['fast path', []],
    ['oclif', ['--foreground']],
  ] as const) {
    it.each(cases)(`${parser}: start %s exits 2 and starts nothing`, async (_name, args, what, todo) => {
      const res = await runCli(['start', '--provider', 'local', ...extra, ...args], {cwd: repo.dir, timeoutMs: 30_000})
      expect(res.code, res.stderr + res.stdout).toBe(2)
      expect(res.stderr).toMatch(what)
      expect(res.stderr).toMatch(todo)
      expect(res.stderr).not.toMatch(/ENOTDIR|spawn/)
      expect(existsSync(path.join(repo.dir, '.sdd', 'worktrees'))).toBe(false)
      expect(existsSync(path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl'))).toBe(false)
      const state = path.join(repo.dir, '.sdd', 'runtime', 'preview', 'state.json')
      if (existsSync(state)) expect(JSON.parse(readFileSync(state, 'utf8')).previews).toEqual([])
      expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
    })
  }

  it('--json: one error document on stdout, exit 2', async () => {
    const res = await runCli(['start', '--provider', 'local', '--command', ' ', '--json'], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(json(res).error).toMatchObject({code: 'INVALID_INPUT', message: expect.stringMatching(/--command is blank/)})
  })

  it('--list-commands --cwd <a file> exits 2 as well', async () => {
    const res = await runCli(['start', '--list-commands', '--cwd', 'server.js'], {cwd: repo.dir})
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/is a file, not a directory/)
  })
})
