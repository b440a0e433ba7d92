// `preview start` on a pnpm project runs the dev script without pnpm when pnpm's semantics allow it (pnpm on PATH,
// a plain project): pnpm's variables, node_modules/.bin first on PATH, no pnpm process. Needs pnpm on PATH (not a
// dependency: `npm i -g --prefix /tmp/pm pnpm; PATH=/tmp/pm/bin:$PATH`); skipped without it.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {processTree} from '../../src/core/process.js'
import {json, runCli} from '../helpers/cli.js'
import {makeRepo, SERVER_JS, type TempRepo} from '../helpers/repo.js'

const PNPM = (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, 'pnpm')))
/** The npm_* variables `npx vitest` gave this process, unset: preview run from a shell, as users do. */
const SHELL_ENV = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => /^npm_/i.test(k))
    .map((k) => [k, undefined]),
)
const ENV_SERVER = SERVER_JS.replace(
  "const body = process.env.APP_BODY || require('fs').readFileSync(__dirname + '/body.txt', 'utf8')",
  "const body = JSON.stringify({event: process.env.npm_lifecycle_event, name: process.env.npm_package_name, ua: process.env.npm_config_user_agent, src: process.env.PNPM_SCRIPT_SRC_DIR, bin: (process.env.PATH || '').split(':')[0]})",
)

describe.skipIf(!PNPM)('pnpm scripts without pnpm', () => {
  let repo: TempRepo
  afterEach(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir, env: SHELL_ENV})
    repo.cleanup()
  })

  it('pnpm run dev runs as its script line with pnpm variables; --list-commands says so; no pnpm process', async () => {
    repo = makeRepo({
      files: {
        'package.json': JSON.stringify({name: 'shop', scripts: {dev: 'node server.js'}, version: '2.0.1'}),
        'pnpm-lock.yaml': "lockfileVersion: '9.0'\n",
        'server.js': ENV_SERVER,
      },
    })
    const list = await runCli(['start', '--list-commands'], {cwd: repo.dir, env: SHELL_ENV})
    expect(list.stdout).toContain("runs: direct (the script line with pnpm's environment, without starting pnpm)")
    const start = await runCli(['start', '--provider', 'local', '--no-install', '--json'], {cwd: repo.dir, env: SHELL_ENV})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect(row.command).toBe('pnpm run dev')
    const res = await fetch(row.public_url, {headers: {authorization: `Bearer ${row.token}`}})
    const text = await res.text()
    const body = JSON.parse(text.slice(0, text.lastIndexOf('}') + 1)) as Record<string, string>
    expect(body).toMatchObject({bin: path.join(row.cwd, 'node_modules', '.bin'), event: 'dev', name: 'shop', src: row.cwd})
    expect(body.ua).toMatch(/^pnpm\/\d+\.\d+\.\d+ /)
    const tree = processTree(row.process_pid).map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ')
      } catch {
        return ''
      }
    })
    expect(tree.join('\n')).toContain('node server.js')
    expect(tree.some((c) => /(^|\/)pnpm( |$)/.test(c))).toBe(false)
  })
})
