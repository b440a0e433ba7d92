// Issue 12 as a user sees it: which code `preview start` serves, and that it says so.
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'

const page = async (url: string) => (await fetch(url)).text()

describe('which code a plain `preview start` serves', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo({body: 'main v1'})
    git(repo.dir, 'checkout', '-q', '-b', 'feature')
    repo.write('body.txt', 'feature v1')
    repo.commit('feature v1')
    git(repo.dir, 'checkout', '-q', 'main')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  const start = async (...args: string[]) => {
    const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json', ...args], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    return {row: json(res), stderr: res.stderr}
  }

  const stop = async (id: string) => expect((await runCli(['stop', id], {cwd: repo.dir})).code).toBe(0)

  /** What was served is HEAD of the directory it ran in, and the row says so. */
  const servedCommit = (row: {cwd: string}) => git(row.cwd, 'rev-parse', 'HEAD')

  it('the stale sequence: --ref feature, then plain start on main, then a new commit; each serves what is checked out', async () => {
    // 1. --ref feature: its own worktree (the newest under .sdd/worktrees afterwards).
    const feature = (await start('--ref', 'feature')).row
    expect(await page(feature.public_url)).toContain('feature v1')
    expect(feature.branch).toBe('feature')
    expect(feature.commit).toBe(git(repo.dir, 'rev-parse', 'feature'))
    await stop(feature.preview_id)

    // 2. A plain start on main serves main, not the newer feature worktree.
    const main1 = (await start()).row
    expect(await page(main1.public_url)).toContain('main v1')
    expect(main1.branch).toBe('main')
    expect(main1.commit).toBe(git(repo.dir, 'rev-parse', 'HEAD'))
    expect(servedCommit(main1)).toBe(main1.commit)
    expect(main1.sandbox_session_id).toBe('preview-head')
    await stop(main1.preview_id)

    // 3. Commit v2: the next plain start serves v2 from the same (reset) worktree, node_modules kept.
    writeFileSync(path.join(main1.cwd, 'node_modules-marker'), 'x') // untracked: removed by the reset
    const kept = path.join(main1.cwd, 'node_modules', 'kept.js')
    repo.write('.gitignore', 'node_modules/\n')
    repo.commit('ignore node_modules')
    git(main1.cwd, 'checkout', '-q', '--detach', 'main') // make the ignore rule visible in the worktree
    mkdirSync(path.dirname(kept), {recursive: true})
    writeFileSync(kept, 'module.exports = 1')
    repo.write('body.txt', 'main v2')
    const v2 = repo.commit('main v2')
    const main2 = (await start()).row
    expect(main2.cwd).toBe(main1.cwd)
    expect(main2.commit).toBe(v2)
    expect(servedCommit(main2)).toBe(v2)
    expect(await page(main2.public_url)).toContain('main v2')
    expect(existsSync(kept)).toBe(true)
    expect(existsSync(path.join(main1.cwd, 'node_modules-marker'))).toBe(false)

    // 4. While main2 runs, v3 is committed: a second start gets a fresh worktree; main2 keeps serving v2.
    repo.write('body.txt', 'main v3')
    const v3 = repo.commit('main v3')
    const main3 = (await start()).row
    expect(main3.cwd).not.toBe(main2.cwd)
    expect(main3.commit).toBe(v3)
    expect(servedCommit(main3)).toBe(v3)
    expect(await page(main3.public_url)).toContain('main v3')
    expect(await page(main2.public_url)).toContain('main v2')

    // 5. restart --pull of a HEAD preview brings it to its branch's tip; plain list/status show branch@sha7.
    const pulled = await runCli(['restart', main2.preview_id, '--pull', '--json'], {cwd: repo.dir})
    expect(pulled.code, pulled.stderr).toBe(0)
    expect(json(pulled).commit).toBe(v3)
    expect(await page(main2.public_url)).toContain('main v3')
    const list = await runCli(['list'], {cwd: repo.dir})
    expect(list.stdout).toContain(`main@${v3.slice(0, 7)}`)
    const status = await runCli(['status', main3.preview_id], {cwd: repo.dir})
    expect(status.stdout).toMatch(new RegExp(`code\\s+main@${v3.slice(0, 7)}`))
    await stop(main2.preview_id)
    await stop(main3.preview_id)
  })

  it('two plain starts at once never share (or reset) one worktree', async () => {
    const [a, b] = await Promise.all([start(), start()])
    expect(a.row.cwd).not.toBe(b.row.cwd)
    const head = git(repo.dir, 'rev-parse', 'HEAD')
    for (const {row} of [a, b]) {
      expect(row.commit).toBe(head)
      expect(servedCommit(row)).toBe(head)
      expect(await page(row.public_url)).toContain('main v3')
    }

    await stop(a.row.preview_id)
    await stop(b.row.preview_id)
  })

  it('the newest agent worktree wins over HEAD; preview’s own worktrees never do', async () => {
    const agentDir = path.join(repo.dir, '.sdd', 'worktrees', 'agent-task-1')
    git(repo.dir, 'worktree', 'add', '-q', '-b', 'agent/task-1', agentDir, 'feature')
    const agent = (await start()).row
    expect(agent.cwd).toBe(agentDir)
    expect(agent.branch).toBe('agent/task-1')
    expect(agent.commit).toBe(git(agentDir, 'rev-parse', 'HEAD'))
    expect(await page(agent.public_url)).toContain('feature v1')
    await stop(agent.preview_id)
    // A --ref worktree made after it is newer, but it is preview's own: the agent's is still the default.
    const ref = (await start('--ref', 'main')).row
    await stop(ref.preview_id)
    const again = (await start()).row
    expect(again.cwd).toBe(agentDir)
    await stop(again.preview_id)
    git(repo.dir, 'worktree', 'remove', '--force', agentDir)
  })

  it('says what it serves; uncommitted changes: a warning naming --working-copy, and --working-copy serves them', async () => {
    repo.write('body.txt', 'uncommitted edit')
    repo.write('notes.txt', 'new file')
    const human = await runCli(['start', '--provider', 'local', '--auth', 'none'], {cwd: repo.dir})
    expect(human.code, human.stderr).toBe(0)
    const head = git(repo.dir, 'rev-parse', 'HEAD')
    expect(human.stdout).toContain(`Serving main@${head.slice(0, 7)} from .sdd/worktrees/preview-head`)
    expect(human.stderr).toMatch(/Warning: 2 files have uncommitted changes .*--working-copy/)
    const url = /URL: (\S+)/.exec(human.stdout)![1]!
    expect(await page(url)).not.toContain('uncommitted edit')

    const wc = await runCli(['start', '--provider', 'local', '--auth', 'none', '--working-copy'], {cwd: repo.dir})
    expect(wc.code, wc.stderr).toBe(0)
    expect(wc.stdout).toContain(`Serving main@${head.slice(0, 7)} from working copy, uncommitted changes included`)
    expect(wc.stderr).not.toContain('uncommitted changes that')
    expect(await page(/URL: (\S+)/.exec(wc.stdout)![1]!)).toContain('uncommitted edit')
    const rows = json(await runCli(['list', '--json'], {cwd: repo.dir}))
    expect(rows.find((r: {sandbox_backend: string}) => r.sandbox_backend === 'cwd')).toMatchObject({
      branch: 'main',
      commit: head,
      cwd: repo.dir,
    })
    await runCli(['stop', '--all'], {cwd: repo.dir})
    git(repo.dir, 'checkout', '-q', '--', 'body.txt')
    rmSync(path.join(repo.dir, 'notes.txt'))

    const bad = await runCli(['start', '--provider', 'local', '--working-copy', '--ref', 'main'], {cwd: repo.dir})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--ref and --working-copy do not go together')
  })
})

describe('files git does not have, and monorepos', () => {
  let repo: TempRepo
  beforeAll(() => {
    const server = (name: string) =>
      `require('http').createServer((q, s) => s.end('${name} ' + (require('fs').existsSync('.env') ? require('fs').readFileSync('.env', 'utf8').trim() : 'missing .env'))).listen(process.env.PORT, '127.0.0.1', () => console.log('Local: http://localhost:' + process.env.PORT))`
    repo = makeRepo({
      files: {
        '.gitignore': '.env\n.env.local\nsecret.json\n',
        'apps/web/package.json': JSON.stringify({name: 'web', private: true, scripts: {dev: 'node web.js'}}),
        'apps/web/web.js': server('web'),
        'package.json': JSON.stringify({name: 'root', private: true, scripts: {dev: 'node root.js'}, workspaces: ['apps/*']}),
        'root.js': server('root'),
      },
    })
    writeFileSync(path.join(repo.dir, '.env'), 'ROOT_ENV=1\n')
    writeFileSync(path.join(repo.dir, 'apps/web/.env'), 'WEB_ENV=1\n')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('.env files are copied into the worktree before the dev server starts', async () => {
    const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    const row = json(res)
    expect(await page(row.public_url)).toBe('root ROOT_ENV=1')
    expect(readFileSync(path.join(row.sandbox_session_id ? row.cwd : '', '.env'), 'utf8')).toBe('ROOT_ENV=1\n')
    await runCli(['stop', row.preview_id], {cwd: repo.dir})
  })

  it('started from apps/web: --list-commands and start agree, and the server runs in apps/web of the worktree', async () => {
    const web = path.join(repo.dir, 'apps', 'web')
    const listed = await runCli(['start', '--list-commands', '--json'], {cwd: web})
    expect(listed.code, listed.stderr).toBe(0)
    expect(json(listed).candidates[0].command).toBe('npm run dev')
    expect(json(listed).candidates[0].source).toContain('scripts.dev')
    const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: web})
    expect(res.code, res.stderr).toBe(0)
    const row = json(res)
    expect(row.cwd).toBe(path.join(repo.dir, '.sdd', 'worktrees', 'preview-head', 'apps', 'web'))
    expect(row.command).toBe(json(listed).candidates[0].command)
    // The package's own .env went to the package's directory in the worktree.
    expect(await page(row.public_url)).toBe('web WEB_ENV=1')
    await runCli(['stop', row.preview_id], {cwd: repo.dir})
  })

  it('a tracked .env is served as committed, not replaced by the working copy’s', async () => {
    const other = makeRepo({
      files: {
        '.env': 'COMMITTED=1\n',
        'package.json': JSON.stringify({name: 'a', private: true, scripts: {dev: 'node s.js'}}),
        's.js':
          "require('http').createServer((q, s) => s.end(require('fs').readFileSync('.env', 'utf8'))).listen(process.env.PORT, '127.0.0.1')",
      },
    })
    try {
      writeFileSync(path.join(other.dir, '.env'), 'EDITED=1\n')
      const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: other.dir})
      expect(res.code, res.stderr).toBe(0)
      expect(await page(json(res).public_url)).toBe('COMMITTED=1\n')
    } finally {
      await runCli(['stop', '--all'], {cwd: other.dir})
      other.cleanup()
    }
  })

  it('copy: in preview.yaml lists what to copy; a listed file that does not exist is a warning', async () => {
    writeFileSync(path.join(repo.dir, 'secret.json'), '{"k":1}')
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'copy:\n  - secret.json\n  - no-such.env\n')
    const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    const row = json(res)
    expect(readFileSync(path.join(row.cwd, 'secret.json'), 'utf8')).toBe('{"k":1}')
    expect(res.stderr).toContain('copy: no-such.env is listed')
    await runCli(['stop', row.preview_id], {cwd: repo.dir})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'copy: [../outside]\n')
    const bad = await runCli(['start', '--provider', 'local', '--auth', 'none'], {cwd: repo.dir})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('not a path inside the repository')
    rmSync(path.join(repo.dir, '.sdd', 'preview.yaml'))
  })
})

describe('the kept HEAD worktree and its dependencies', () => {
  let repo: TempRepo
  const lock = () =>
    new Promise<number | null>((resolve) => {
      spawn('npm', ['install', '--package-lock-only', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], {
        cwd: repo.dir,
        stdio: 'ignore',
      }).on('close', resolve)
    })
  beforeAll(async () => {
    repo = makeRepo({
      files: {
        'package.json': JSON.stringify({
          dependencies: {greeting: 'file:./vendor/greeting'},
          name: 'app',
          private: true,
          scripts: {dev: 'node server.js'},
        }),
        'server.js': `require('http').createServer((q, s) => s.end(require('greeting/package.json').version)).listen(process.env.PORT, '127.0.0.1', () => console.log('Local: http://localhost:' + process.env.PORT))`,
        'vendor/greeting/index.js': `module.exports = 'hi'`,
        'vendor/greeting/package.json': JSON.stringify({main: 'index.js', name: 'greeting', version: '1.0.0'}),
      },
    })
    expect(await lock()).toBe(0)
    repo.commit('lockfile')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  const startOnce = async () => {
    const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    const row = json(res)
    const log = readFileSync(row.log_file, 'utf8')
    const body = await page(row.public_url)
    await runCli(['stop', row.preview_id], {cwd: repo.dir})
    return {body, installed: log.includes('installing dependencies'), row}
  }

  it('installs once, keeps node_modules across commits, and installs again when the lockfile changed', async () => {
    const first = await startOnce()
    expect(first.installed).toBe(true)
    repo.write('README.md', 'a change that is not a dependency')
    repo.commit('docs')
    const second = await startOnce()
    expect(second.row.cwd).toBe(first.row.cwd)
    expect(second.installed).toBe(false)
    repo.write('vendor/greeting/package.json', JSON.stringify({main: 'index.js', name: 'greeting', version: '2.0.0'}))
    expect(await lock()).toBe(0)
    repo.commit('greeting 2')
    const third = await startOnce()
    expect(third.row.cwd).toBe(first.row.cwd)
    expect(third.installed).toBe(true)
    expect(third.body).toBe('2.0.0')
  })
})
