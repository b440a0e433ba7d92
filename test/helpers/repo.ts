// Real git repositories in temp dirs, with a small Node dev server committed.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, mkdirSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pidsInside} from './proc.js'

export const SERVER_JS = `
const http = require('http')
const port = Number(process.env.PORT || 3000)
const body = process.env.APP_BODY || require('fs').readFileSync(__dirname + '/body.txt', 'utf8')
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain')
  res.end(body + ' host=' + req.headers.host + ' pid=' + process.pid + '\\n')
})
server.listen(port, process.env.HOST || '127.0.0.1', () => console.log('Server listening on http://localhost:' + port))
`

/** Runs git with a fixed identity so commits work on a fresh machine. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_AUTHOR_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
    },
  }).trim()
}

export interface TempRepo {
  dir: string
  write(file: string, content: string): void
  commit(message?: string): string
  cleanup(): void
}

/** A committed repo whose `dev` script runs a small Node server (package.json + server.js + body.txt). */
export function makeRepo(opts: {files?: Record<string, string>; body?: string; devScript?: string | null} = {}): TempRepo {
  const base = path.join(os.tmpdir(), 'preview-tests')
  mkdirSync(base, {recursive: true})
  const dir = realpathSync(mkdtempSync(path.join(base, 'repo-')))
  const write = (file: string, content: string) => {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }

  git(dir, 'init', '-q', '-b', 'main')
  const files: Record<string, string> = opts.files ?? {
    'body.txt': opts.body ?? 'hello from the app',
    'package.json': JSON.stringify(
      {name: 'app', private: true, scripts: opts.devScript === null ? {} : {dev: opts.devScript ?? 'node server.js'}},
      null,
      2,
    ),
    'server.js': SERVER_JS,
  }
  for (const [f, c] of Object.entries(files)) write(f, c)
  const commit = (message = 'commit') => {
    git(dir, 'add', '-A')
    git(dir, 'commit', '-q', '--allow-empty', '-m', message)
    return git(dir, 'rev-parse', 'HEAD')
  }

  commit('init')
  return {
    // A test that failed half-way may have left a supervisor or dev server running in the repo: never orphan it.
    cleanup: () => {
      for (const pid of pidsInside(dir)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone
        }
      }

      rmSync(dir, {force: true, recursive: true})
    },
    commit,
    dir,
    write,
  }
}
