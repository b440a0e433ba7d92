// `preview serve LABEL=GIT_URL`: a repository served from its URL, cloned once into the clones directory, fetched
// (not cloned again) when the host restarts, its team's branches served from the remote; a URL that cannot be
// cloned is refused with exit 2 and leaves nothing behind.
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runCli} from '../helpers/cli.js'
import {pidsInside, waitFor} from '../helpers/proc.js'
import {git, makeRepo, type TempRepo} from '../helpers/repo.js'
import {request, startServe} from '../helpers/serve.js'
import {displayUrl, parseRepoArg} from '../../src/core/host/repos.js'

describe('preview serve from a git URL', () => {
  let repo: TempRepo
  let work: string
  let bare: string
  let clones: string

  beforeAll(() => {
    repo = makeRepo({body: 'main of the team repo'})
    git(repo.dir, 'checkout', '-q', '-b', 'feature/login')
    repo.write('body.txt', 'the login feature')
    repo.commit('feature')
    git(repo.dir, 'checkout', '-q', 'main')
    work = mkdtempSync(path.join(tmpdir(), 'serve-url-'))
    bare = path.join(work, 'team.git')
    git(work, 'clone', '-q', '--bare', repo.dir, bare)
    clones = path.join(work, 'clones')
  })

  afterAll(() => {
    for (const pid of pidsInside(clones)) process.kill(pid, 'SIGKILL')
    repo.cleanup()
    rmSync(work, {force: true, recursive: true})
  })

  it('clones once, serves the default branch and a branch only the remote has, fetches on restart', async () => {
    const env = {PREVIEW_CLONES_DIR: clones}
    const url = `file://${bare}`
    let host = await startServe([`app=${url}`], {cwd: work, env, timeoutMs: 60_000})
    try {
      expect((await request(host.port, 'app.localhost')).body).toMatch(/^main of the team repo/)
      expect((await request(host.port, 'app--feature-login.localhost')).body).toMatch(/^the login feature/)
    } finally {
      expect(await host.stop()).toBe(0)
    }

    expect(readdirSync(clones)).toHaveLength(1)
    const clone = path.join(clones, readdirSync(clones)[0]!)
    expect(await waitFor(() => pidsInside(clone).length === 0, 5000)).toBe(true)

    // The team pushes a new commit; the restarted host fetches it into the same clone.
    const push = makeRepo({body: 'unused'})
    try {
      git(push.dir, 'fetch', '-q', bare, 'main')
      git(push.dir, 'reset', '-q', '--hard', 'FETCH_HEAD')
      push.write('body.txt', 'main after a push')
      push.commit('push')
      git(push.dir, 'push', '-q', bare, 'HEAD:main')
    } finally {
      push.cleanup()
    }

    host = await startServe([`app=${url}`], {cwd: work, env, timeoutMs: 60_000})
    try {
      expect(readdirSync(clones)).toHaveLength(1) // reused, not cloned again
      expect((await request(host.port, 'app.localhost')).body).toMatch(/^main after a push/)
    } finally {
      expect(await host.stop()).toBe(0)
    }
  })

  it('a URL that cannot be cloned is bad input: exit 2, the reason, no clone left', async () => {
    const env = {PREVIEW_CLONES_DIR: path.join(work, 'other-clones')}
    const res = await runCli(['serve', `app=file://${work}/no-such.git`, '--port', '0'], {cwd: work, env, timeoutMs: 30_000})
    expect(res.code).toBe(2)
    expect(res.stderr).toContain(`git clone file://${work}/no-such.git failed`)
    expect(readdirSync(path.join(work, 'other-clones'))).toEqual([])
  })

  it('LABEL=URL parses; credentials in a URL are never shown', () => {
    expect(parseRepoArg('app=https://ci:s3cret@git.example.com/team/app.git')).toEqual({
      label: 'app',
      path: 'https://ci:s3cret@git.example.com/team/app.git',
    })
    expect(parseRepoArg('git@git.example.com:team/app.git')).toEqual({label: null, path: 'git@git.example.com:team/app.git'})
    expect(displayUrl('https://ci:s3cret@git.example.com/team/app.git')).toBe('https://git.example.com/team/app.git')
  })
})
