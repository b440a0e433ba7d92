// Issue 8 as a user sees it: previews of refs, restart --pull, installs in fresh worktrees, logs --follow, cleanup.
import {spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {BIN, json, runCli} from '../helpers/cli.js'
import {pidsInside, waitFor} from '../helpers/proc.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'

const page = async (url: string) => (await fetch(url)).text()

describe('previews of git refs', () => {
  let repo: TempRepo
  let v1: string
  beforeAll(() => {
    repo = makeRepo({body: 'main v1'})
    v1 = git(repo.dir, 'rev-parse', 'HEAD')
    git(repo.dir, 'tag', 'v1')
    git(repo.dir, 'checkout', '-q', '-b', 'feature')
    repo.write('body.txt', 'feature v1')
    repo.commit('feature v1')
    git(repo.dir, 'checkout', '-q', 'main')
    repo.write('body.txt', 'main v2')
    repo.commit('main v2')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  const start = async (...args: string[]) => {
    const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json', ...args], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    return json(res)
  }

  it('two branches at once serve different content from worktrees of their own', async () => {
    const [main, feature] = await Promise.all([start('--ref', 'main'), start('--ref', 'feature')])
    expect(await page(main.public_url)).toContain('main v2')
    expect(await page(feature.public_url)).toContain('feature v1')
    expect(main.cwd).not.toBe(feature.cwd)
    expect(main.sandbox_session_id).toMatch(/^ref-main-/)
    expect(feature.ref).toBe('feature')
    expect(feature.commit).toBe(git(repo.dir, 'rev-parse', 'feature'))
    const again = await start('--ref', 'main') // the same ref twice shares nothing
    expect(again.cwd).not.toBe(main.cwd)
    await runCli(['stop', main.preview_id, feature.preview_id, again.preview_id], {cwd: repo.dir})
  })

  it('--ref with a tag and with a commit', async () => {
    const tag = await start('--ref', 'v1')
    expect(tag.commit).toBe(v1)
    expect(await page(tag.public_url)).toContain('main v1')
    const commit = await start('--ref', v1.slice(0, 10))
    expect(commit.commit).toBe(v1)
    expect(await page(commit.public_url)).toContain('main v1')
    const bad = await runCli(['start', '--provider', 'local', '--ref', 'no-such-branch'], {cwd: repo.dir})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('Unknown git ref "no-such-branch"')
    expect((await runCli(['restart', tag.preview_id, '--pull'], {cwd: repo.dir})).code).toBe(2) // a tag is not a branch
    await runCli(['stop', tag.preview_id, commit.preview_id], {cwd: repo.dir})
  })

  it('restart --pull serves a new commit pushed to the branch, keeping the link', async () => {
    const row = await start('--ref', 'feature')
    git(repo.dir, 'checkout', '-q', 'feature')
    repo.write('body.txt', 'feature v2')
    const v2 = repo.commit('feature v2')
    git(repo.dir, 'checkout', '-q', 'main')
    expect(await page(row.public_url)).toContain('feature v1')
    const res = await runCli(['restart', row.preview_id, '--pull', '--json'], {cwd: repo.dir})
    expect(res.code, res.stderr).toBe(0)
    const after = json(res)
    expect(after.commit).toBe(v2)
    expect(after.public_url).toBe(row.public_url)
    expect(await page(row.public_url)).toContain('feature v2')
    const audit = readFileSync(path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl'), 'utf8')
    expect(audit).toMatch(new RegExp(`"event":"restart".*"preview_id":"${row.preview_id}".*"reason":"operator"`))
    await runCli(['stop', row.preview_id], {cwd: repo.dir})
  })
})

describe('dependencies, logs and cleanup', () => {
  let repo: TempRepo
  beforeAll(async () => {
    repo = makeRepo({
      files: {
        'package.json': JSON.stringify({
          dependencies: {greeting: 'file:./vendor/greeting'},
          name: 'app',
          private: true,
          scripts: {dev: 'node server.js'},
        }),
        'server.js': `const g = require('greeting'); require('http').createServer((q, s) => { console.log('request ' + q.url); s.end(g + '\\n') }).listen(process.env.PORT, '127.0.0.1', () => console.log('Local: http://localhost:' + process.env.PORT))`,
        'vendor/greeting/index.js': `module.exports = 'hello from an installed dependency'`,
        'vendor/greeting/package.json': JSON.stringify({main: 'index.js', name: 'greeting', version: '1.0.0'}),
      },
    })
    // A real lockfile (a file: dependency, so no network): npm ci in the fresh worktree installs from it.
    const lock = await new Promise<number | null>((resolve) => {
      spawn('npm', ['install', '--package-lock-only', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], {
        cwd: repo.dir,
        stdio: 'ignore',
      }).on('close', resolve)
    })
    expect(lock).toBe(0)
    repo.commit('lockfile')
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('a fresh worktree with a lockfile gets its dependencies installed (npm ci), output in the log', async () => {
    const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--json'], {cwd: repo.dir})
    expect(res.code, res.stderr + res.stdout).toBe(0)
    const row = json(res)
    expect(existsSync(path.join(row.cwd, 'node_modules', 'greeting'))).toBe(true)
    expect(await page(row.public_url)).toContain('hello from an installed dependency')
    const log = await runCli(['logs', row.preview_id, '--lines', '200'], {cwd: repo.dir})
    expect(log.stdout).toContain('[preview]')
    expect(log.stdout).toContain('installing dependencies: npm ci')

    // logs --follow shows new lines as they are written, and ends when the preview stops.
    const follow = spawn(process.execPath, [BIN, 'logs', row.preview_id, '--follow', '--lines', '1'], {
      cwd: repo.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    follow.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const ended = new Promise<number | null>((resolve) => follow.on('close', resolve))
    // The last line arrives first: from then on the follower is reading, so the next line must reach it.
    expect(await waitFor(() => out.length > 0, 10_000)).toBe(true)
    await fetch(`${row.public_url}/followed-request`)
    expect(await waitFor(() => out.includes('request /followed-request'), 5000)).toBe(true)
    await runCli(['stop', row.preview_id], {cwd: repo.dir})
    expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r('timeout'), 5000))])).toBe(0)
    expect(out).toContain('stopping (operator)')
  })

  it('--no-install skips the install (and the dev server fails without its dependency)', async () => {
    const res = await runCli(['start', '--provider', 'local', '--ref', 'main', '--no-install'], {cwd: repo.dir})
    expect(res.code).toBe(1)
    expect(res.stderr).toContain("Cannot find module 'greeting'")
    // Progress: plain lines on stderr without a TTY, in the order the start went.
    const steps = [...res.stderr.matchAll(/^\[\d+\.\ds] ([a-z ]+): /gm)].map((m) => m[1])
    expect(steps).toEqual(['sandbox', 'discover', 'dev server'])
  })

  it('cleanup --dry-run lists and removes nothing; cleanup --yes removes only unused worktrees and stale logs', async () => {
    const keep = json(await runCli(['start', '--provider', 'local', '--auth', 'none', '--ref', 'main', '--json'], {cwd: repo.dir}))
    const worktrees = () =>
      git(repo.dir, 'worktree', 'list', '--porcelain')
        .split('\n')
        .filter((l) => l.startsWith('worktree '))
        .map((l) => l.slice(9))
    // An agent's worktree under .sdd/worktrees, with work not committed yet: never preview's to remove.
    const agent = path.join(repo.dir, '.sdd', 'worktrees', 'agent-task-7')
    git(repo.dir, 'worktree', 'add', '-q', '-b', 'agent-task-7', agent)
    writeFileSync(path.join(agent, 'notes.txt'), 'half-done work\n')
    const before = worktrees()
    expect(before.length).toBeGreaterThanOrEqual(4) // the repo, the agent's, the first preview's worktree, the running one
    const dry = await runCli(['cleanup', '--dry-run', '--json'], {cwd: repo.dir})
    const plan = json(dry)
    expect(plan.removed, JSON.stringify({before, plan})).toBe(false)
    expect(plan.worktrees.length, JSON.stringify({before, plan})).toBe(before.length - 3)
    expect(plan.worktrees.map((w: {path: string}) => w.path)).not.toContain(keep.cwd)
    expect(plan.worktrees.map((w: {path: string}) => w.path)).not.toContain(agent)
    expect(plan.logs.length).toBeGreaterThanOrEqual(1)
    expect(worktrees()).toEqual(before)

    const refused = await runCli(['cleanup'], {cwd: repo.dir}) // no TTY to ask on, no --yes
    expect(refused.code).toBe(2)
    expect(worktrees()).toEqual(before)

    const yes = json(await runCli(['cleanup', '--yes', '--json'], {cwd: repo.dir}))
    expect(yes.removed).toBe(true)
    expect(worktrees().sort()).toEqual([repo.dir, keep.cwd, agent].sort())
    expect(readFileSync(path.join(agent, 'notes.txt'), 'utf8')).toBe('half-done work\n')
    for (const w of plan.worktrees) expect(existsSync(w.path)).toBe(false)
    expect(existsSync(keep.log_file)).toBe(true)
    expect(await page(keep.public_url)).toContain('hello from an installed dependency')
    await runCli(['stop', keep.preview_id], {cwd: repo.dir})
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })
})
