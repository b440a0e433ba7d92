// The sandbox pieces on real files and real git repos: copy of untracked files, worktree ownership, counts.
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {renderPreviewError} from '../../src/cli/render-error.js'
import {codeLabel} from '../../src/cli/render.js'
import {StartFailed} from '../../src/core/errors.js'
import {sddPaths} from '../../src/core/records/paths.js'
import {createWorktree, listWorktrees, planDir, resolveSandbox, uncommittedFiles} from '../../src/core/sandbox/resolve.js'
import {copyUntracked} from '../../src/core/sandbox/copy.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'

describe('copyUntracked', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(() => repo.cleanup())

  const dirs = () => {
    const from = path.join(repo.dir, 'from')
    const to = path.join(repo.dir, 'to')
    mkdirSync(path.join(from, 'apps/web'), {recursive: true})
    mkdirSync(path.join(to, 'apps/web'), {recursive: true})
    return {from, to}
  }

  it('defaults: the .env files that exist, at the root and in the subdirectory; replaces only when told', () => {
    const {from, to} = dirs()
    writeFileSync(path.join(from, '.env'), 'A=1')
    writeFileSync(path.join(from, '.env.local'), 'B=1')
    writeFileSync(path.join(from, 'apps/web/.env.development'), 'C=1')
    writeFileSync(path.join(to, '.env'), 'OLD')
    const kept = copyUntracked({configFile: 'preview.yaml', from, overwrite: false, prefix: 'apps/web', to})
    expect(kept.copied.sort()).toEqual(['.env.local', 'apps/web/.env.development'])
    expect(readFileSync(path.join(to, '.env'), 'utf8')).toBe('OLD')
    const replaced = copyUntracked({configFile: 'preview.yaml', from, overwrite: true, prefix: 'apps/web', to})
    expect(replaced.copied).toContain('.env')
    expect(readFileSync(path.join(to, '.env'), 'utf8')).toBe('A=1')
    expect(replaced.missing).toEqual([]) // defaults that do not exist are not worth a warning
  })

  it('explicit entries: directories too; missing ones reported; tracked ones left alone; escapes refused', () => {
    const {from, to} = dirs()
    mkdirSync(path.join(from, 'config/creds'), {recursive: true})
    writeFileSync(path.join(from, 'config/creds/key.json'), '{}')
    writeFileSync(path.join(from, 'tracked.env'), 'WORKING')
    writeFileSync(path.join(to, 'tracked.env'), 'COMMITTED')
    const res = copyUntracked({
      configFile: 'p.yaml',
      entries: ['config/creds', 'nope.env', 'tracked.env'],
      from,
      overwrite: true,
      prefix: '',
      to,
      tracked: new Set(['tracked.env']),
    })
    expect(existsSync(path.join(to, 'config/creds/key.json'))).toBe(true)
    expect(res.missing).toEqual(['nope.env'])
    expect(readFileSync(path.join(to, 'tracked.env'), 'utf8')).toBe('COMMITTED')
    for (const bad of ['../x', '/etc/passwd', 'a/../../x', '']) {
      expect(() => copyUntracked({configFile: 'p.yaml', entries: [bad], from, overwrite: true, prefix: '', to})).toThrow(
        /not a path inside the repository/,
      )
    }
  })
})

describe('worktrees and what they hold', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(() => repo.cleanup())

  it('preview marks its own worktrees; an agent’s (or a legacy name) is told apart; planDir and resolveSandbox agree', async () => {
    const paths = sddPaths(path.join(repo.dir, '.sdd'))
    const own = await resolveSandbox({paths, root: repo.dir, startDir: repo.dir})
    expect(own).toMatchObject({backend: 'worktree', branch: 'main', created: true, owned: true, sessionId: 'preview-head'})
    const ref = await resolveSandbox({paths, ref: 'main', root: repo.dir, startDir: repo.dir})
    expect(ref.branch).toBe('main')
    git(repo.dir, 'worktree', 'add', '-q', '--detach', path.join(paths.worktrees, 'ws-20260101-000000-abcdef'))
    git(repo.dir, 'worktree', 'add', '-q', '--detach', path.join(paths.worktrees, 'host-docs'))
    git(repo.dir, 'worktree', 'add', '-q', '--detach', path.join(paths.worktrees, 'ref-agentish'))
    const owners = Object.fromEntries(listWorktrees(paths).map((w) => [w.name, w.owner]))
    expect(owners).toEqual({
      'host-docs': 'ref',
      'preview-head': 'head',
      [ref.sessionId!]: 'ref',
      'ref-agentish': null,
      'ws-20260101-000000-abcdef': 'head',
    })
    // The old call shape (`preview serve` makes host-<name> worktrees with it) still works and marks them.
    const made = await createWorktree(repo.dir, paths, 'main', 'served-by-host')
    expect(made.commit).toBe(git(repo.dir, 'rev-parse', 'main'))
    expect(listWorktrees(paths).find((w) => w.name === 'served-by-host')?.owner).toBe('ref')
    expect(await planDir({paths, root: repo.dir, startDir: repo.dir})).toBe(path.join(paths.worktrees, 'ref-agentish'))
    const agent = await resolveSandbox({paths, root: repo.dir, startDir: repo.dir})
    expect(agent).toMatchObject({branch: null, created: false, cwd: path.join(paths.worktrees, 'ref-agentish'), owned: false})
  })

  it('counts uncommitted files: modified, staged, untracked (each file of a new directory), renames once; not ignored ones', async () => {
    const other = makeRepo()
    try {
      expect(await uncommittedFiles(other.dir)).toBe(0)
      other.write('body.txt', 'changed')
      other.write('new/a.txt', 'a')
      other.write('new/b.txt', 'b')
      other.write('.gitignore', 'ignored.txt\n')
      other.write('ignored.txt', 'x')
      git(other.dir, 'mv', 'server.js', 'server2.js')
      expect(await uncommittedFiles(other.dir)).toBe(5) // body.txt, new/a, new/b, .gitignore, the rename
    } finally {
      other.cleanup()
    }
  })
})

describe('rendering', () => {
  it('codeLabel: branch@sha7, the ref or detached without a branch, attached, - outside git', () => {
    const sha = '0123456789abcdef0123456789abcdef01234567'
    expect(codeLabel({branch: 'main', commit: sha, ref: null, sandbox_backend: 'worktree'})).toBe('main@0123456')
    expect(codeLabel({branch: null, commit: sha, ref: 'v1', sandbox_backend: 'worktree'})).toBe('v1@0123456')
    expect(codeLabel({branch: null, commit: sha, ref: null, sandbox_backend: 'worktree'})).toBe('detached@0123456')
    expect(codeLabel({branch: null, commit: null, ref: null, sandbox_backend: 'attached'})).toBe('attached')
    expect(codeLabel({branch: null, commit: null, ref: null, sandbox_backend: 'cwd'})).toBe('-')
  })

  it('a failed start’s error names its id and log, in text and in JSON', () => {
    const err = new StartFailed('The dev server exited (code 3) before it was ready.')
    err.previewId = 'p-12345678'
    err.logFile = '/x/.sdd/runtime/preview/logs/p-12345678.log'
    expect(renderPreviewError(err, false).stderr).toContain(
      'Preview p-12345678 did not start; its log is kept at /x/.sdd/runtime/preview/logs/p-12345678.log',
    )
    const doc = JSON.parse(renderPreviewError(err, true).stdout!)
    expect(doc.error).toMatchObject({code: 'START_FAILED', log_file: err.logFile, preview_id: 'p-12345678'})
    expect(JSON.parse(renderPreviewError(new StartFailed('x'), true).stdout!).error.preview_id).toBeUndefined()
  })
})
