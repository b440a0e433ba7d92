// `preview start` on an npm project runs the dev script without npm (npm's start-up is most of `npm run dev`'s
// time), with npm's variables; a project that needs npm itself (a project .npmrc, script_runner: package-manager)
// runs through npm and still works.
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {processTree} from '../../src/core/process.js'
import {json, runCli} from '../helpers/cli.js'
import {makeRepo, SERVER_JS, type TempRepo} from '../helpers/repo.js'

const ENV_SERVER = `${SERVER_JS.replace("const body = process.env.APP_BODY || require('fs').readFileSync(__dirname + '/body.txt', 'utf8')", "const body = JSON.stringify({event: process.env.npm_lifecycle_event, name: process.env.npm_package_name, version: process.env.npm_package_version, ua: process.env.npm_config_user_agent, bin: (process.env.PATH || '').split(':')[0]})")}`

function cmdlines(pid: number): string[] {
  return processTree(pid).map((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ')
    } catch {
      return ''
    }
  })
}

async function startAndFetch(repo: TempRepo): Promise<{row: Record<string, any>; body: Record<string, string>; tree: string[]}> {
  const start = await runCli(['start', '--provider', 'local', '--json'], {cwd: repo.dir})
  expect(start.code, start.stderr).toBe(0)
  const row = json(start)
  const res = await fetch(row.public_url, {headers: {authorization: `Bearer ${row.token}`}})
  expect(res.status).toBe(200)
  const text = await res.text()
  return {body: JSON.parse(text.slice(0, text.lastIndexOf('}') + 1)) as Record<string, string>, row, tree: cmdlines(row.process_pid)}
}

describe('package scripts without npm', () => {
  let repo: TempRepo
  afterEach(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('npm run dev runs as its script line, with npm_* variables and node_modules/.bin first on PATH; no npm process', async () => {
    repo = makeRepo({
      files: {
        'package-lock.json': '{"lockfileVersion":3,"packages":{}}',
        'package.json': JSON.stringify({name: 'shop', scripts: {dev: 'node server.js'}, version: '2.0.1'}),
        'server.js': ENV_SERVER,
      },
    })
    const {body, row, tree} = await startAndFetch(repo)
    expect(row.command).toBe('npm run dev')
    expect(body).toMatchObject({event: 'dev', name: 'shop', version: '2.0.1'})
    expect(body.ua).toMatch(/^npm\/\d+\.\d+\.\d+ node\/v\d+/)
    expect(body.bin).toBe(path.join(row.cwd, 'node_modules', '.bin'))
    expect(tree.join('\n')).toContain('node server.js')
    expect(tree.some((c) => /npm-cli\.js|(^|\/)npm( |$)/.test(c))).toBe(false)
  })

  it('a project .npmrc, or script_runner: package-manager, runs it through npm: same variables, an npm process', async () => {
    repo = makeRepo({
      files: {
        '.npmrc': 'fund=false\n',
        'package.json': JSON.stringify({name: 'shop', scripts: {dev: 'node server.js'}, version: '2.0.1'}),
        'server.js': ENV_SERVER,
      },
    })
    const list = await runCli(['start', '--list-commands'], {cwd: repo.dir})
    expect(list.stdout).toMatch(/runs: via the package manager: .*\.npmrc/)
    const viaNpm = await startAndFetch(repo)
    expect(viaNpm.body).toMatchObject({event: 'dev', name: 'shop', version: '2.0.1'})
    expect(viaNpm.tree.some((c) => /npm-cli\.js|(^|\/)npm /.test(c))).toBe(true)
    await runCli(['stop', '--all'], {cwd: repo.dir})

    rmSync(path.join(repo.dir, '.npmrc'))
    repo.commit('no .npmrc')
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'script_runner: package-manager\n')
    expect((await runCli(['start', '--list-commands'], {cwd: repo.dir})).stdout).toMatch(
      /runs: via the package manager: script_runner: package-manager/,
    )
    const configured = await startAndFetch(repo)
    expect(configured.tree.some((c) => /npm-cli\.js|(^|\/)npm /.test(c))).toBe(true)
  })
})
