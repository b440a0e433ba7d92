// A pnpm project's dev script run without pnpm sees what it sees under `pnpm run`: the same variables, PATH order,
// pre/post scripts, exit codes. Each case runs the real pnpm and the direct plan on the same package. pnpm is not a
// dependency: with none on PATH these checks are skipped (`npm i -g --prefix /tmp/pm pnpm; PATH=/tmp/pm/bin:$PATH`).
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runnerNote, scriptPlan} from '../../src/core/discovery/commands.js'
import {planPnpmScript} from '../../src/core/discovery/script-runner.js'

/** This process's environment without the npm_* variables `npx vitest` gave it (a shell's, as users run preview). */
const CLEAN: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
const PNPM = (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, 'pnpm')))
let root: string
let dir: string
const ENV_JS = `const keys = Object.keys(process.env).filter((k) => /^npm_|^PNPM_|^INIT_CWD$|^NODE$|^PATH$/.test(k)).sort()
const out = {}
for (const k of keys) out[k] = process.env[k]
out.ARGV = process.argv.slice(2)
console.log('ENV ' + JSON.stringify(out))
process.exitCode = Number(process.env.EXIT_WITH ?? 0)
`

function pkg(scripts: Record<string, string>, extra: Record<string, unknown> = {}): void {
  const body = {config: {port: '8080'}, engines: {node: '>=18'}, name: 'probe-app', scripts, version: '1.2.3', ...extra}
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(body))
}

function viaPnpm(script: string, from: string, env: NodeJS.ProcessEnv = {}) {
  return spawnSync('pnpm', ['run', script], {cwd: from, encoding: 'utf8', env: {...CLEAN, ...env}, timeout: 60_000})
}

function direct(script: string, from: string, env: NodeJS.ProcessEnv = {}) {
  const plan = planPnpmScript({dir, env: {...CLEAN, ...env}, initCwd: from, script})
  if (!plan.direct) throw new Error(plan.reason)
  return spawnSync('/bin/sh', ['-c', plan.command], {
    cwd: dir,
    encoding: 'utf8',
    env: {...CLEAN, ...env, ...plan.env},
    timeout: 60_000,
  })
}

const envs = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('ENV '))
    .map((l) => JSON.parse(l.slice(4)) as Record<string, unknown>)
const marks = (r: {stdout: string}) => r.stdout.split('\n').filter((l) => /^(PRE|MAIN|POST) /.test(l))

beforeAll(() => {
  // An ancestor with node_modules/.bin: npm puts it on PATH, pnpm does not.
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'pnpm-runner-')))
  mkdirSync(path.join(root, 'node_modules', '.bin'), {recursive: true})
  dir = path.join(root, 'app')
  mkdirSync(path.join(dir, 'sub'), {recursive: true})
  writeFileSync(path.join(dir, 'env.js'), ENV_JS)
})
afterAll(() => rmSync(root, {force: true, recursive: true}))

describe.skipIf(!PNPM)('pnpm scripts without pnpm (against the real pnpm)', () => {
  it('the same npm_* and PNPM_* variables, INIT_CWD, NODE and PATH order as pnpm run', () => {
    pkg({dev: 'node env.js'})
    const sub = path.join(dir, 'sub')
    const real = viaPnpm('dev', sub)
    const ours = direct('dev', sub)
    expect(real.status, real.stderr).toBe(0)
    expect(ours.status, ours.stderr).toBe(0)
    expect(envs(ours.stdout)).toEqual(envs(real.stdout))
    const [env] = envs(ours.stdout)
    expect(String(env!.PATH).split(':')[0]).toBe(path.join(dir, 'node_modules', '.bin'))
    expect(String(env!.PATH)).not.toContain(path.join(root, 'node_modules', '.bin'))
    expect(env!.INIT_CWD).toBe(sub)
    expect(env!.npm_config_user_agent).toMatch(/^pnpm\//)
    // A node-gyp set by whoever started preview stays, as under pnpm.
    const gyp = {npm_config_node_gyp: '/opt/gyp/bin/node-gyp.js'}
    expect(envs(direct('dev', dir, gyp).stdout)).toEqual(envs(viaPnpm('dev', dir, gyp).stdout))
  })

  it('pre and post scripts with their own lifecycle variables; a failure stops the chain with its code', () => {
    pkg({
      dev: 'node env.js && echo "MAIN $npm_lifecycle_event"',
      postdev: 'echo "POST $npm_lifecycle_event"',
      predev: 'echo "PRE $npm_lifecycle_event"',
    })
    const real = viaPnpm('dev', dir)
    const ours = direct('dev', dir)
    expect(marks(ours)).toEqual(['PRE predev', 'MAIN dev', 'POST postdev'])
    expect(marks(ours)).toEqual(marks(real))
    expect(envs(ours.stdout)).toEqual(envs(real.stdout))
    const failed = direct('dev', dir, {EXIT_WITH: '3'})
    const failedReal = viaPnpm('dev', dir, {EXIT_WITH: '3'})
    expect([failed.status, marks(failed)]).toEqual([3, ['PRE predev']])
    expect([failedReal.status, marks(failedReal)]).toEqual([3, ['PRE predev']])
  })

  it('stopping the process group reaches the script as under pnpm: it gets SIGTERM, its exit is seen', async () => {
    const {killGroup, spawnShellGroup} = await import('../../src/core/process.js')
    writeFileSync(
      path.join(dir, 'long.js'),
      "process.on('SIGTERM', () => { console.log('TERM'); process.exit(143) }); setInterval(() => {}, 1000); console.log('up')\n",
    )
    pkg({dev: 'node long.js', predev: 'echo pre'})
    const run = async (command: string, env: NodeJS.ProcessEnv) => {
      const child = spawnShellGroup(command, {cwd: dir, env: {...CLEAN, ...env}})
      let out = ''
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))))
      for (let i = 0; i < 100 && !out.includes('up'); i++) await new Promise((r) => setTimeout(r, 50))
      await killGroup(child.pid!, {graceMs: 2000})
      return {code: await exited, out}
    }

    const plan = planPnpmScript({dir, env: CLEAN, script: 'dev'})
    if (!plan.direct) throw new Error(plan.reason)
    const ours = await run(plan.command, plan.env)
    const real = await run('pnpm run dev', {})
    expect(ours.out).toMatch(/pre[^]*up[^]*TERM/)
    expect(real.out).toMatch(/pre[^]*up[^]*TERM/)
    expect(ours.code).not.toBe(0)
    expect(real.code).not.toBe(0)
  })

  it('pnpm itself runs the script when a workspace, a project .npmrc or another packageManager could change it', () => {
    pkg({dev: 'node env.js'})
    writeFileSync(path.join(root, 'pnpm-workspace.yaml'), 'packages: [app]\n')
    expect(planPnpmScript({dir, env: CLEAN, script: 'dev'})).toEqual({direct: false, reason: expect.stringContaining('workspace')})
    rmSync(path.join(root, 'pnpm-workspace.yaml'))
    writeFileSync(path.join(dir, '.npmrc'), 'enable-pre-post-scripts=false\n')
    expect(planPnpmScript({dir, env: CLEAN, script: 'dev'})).toEqual({direct: false, reason: expect.stringContaining('.npmrc')})
    rmSync(path.join(dir, '.npmrc'))
    pkg({dev: 'node env.js'}, {packageManager: 'pnpm@8.15.0'})
    expect(planPnpmScript({dir, env: CLEAN, script: 'dev'})).toEqual({direct: false, reason: expect.stringContaining('pnpm@8.15.0')})
    pkg({dev: 'node env.js'})
    const shell = {dir, env: {...CLEAN, npm_config_script_shell: '/bin/bash'}, script: 'dev'}
    expect(planPnpmScript(shell)).toEqual({direct: false, reason: expect.stringContaining('npm_config_script_shell')})
    // Run from another package's script: pnpm would clear its npm_package_* variables, a plan cannot.
    const outer = {dir, env: {...CLEAN, npm_package_name: 'outer'}, script: 'dev'}
    expect(planPnpmScript(outer)).toEqual({direct: false, reason: expect.stringContaining('npm_package_name')})
    expect(planPnpmScript({dir, env: CLEAN, script: 'dev'}).direct).toBe(true)
  })
})

describe('which scripts run without their package manager (--list-commands)', () => {
  const note = (manager: 'pnpm' | 'yarn' | 'bun', env: NodeJS.ProcessEnv = CLEAN) =>
    runnerNote(
      scriptPlan({command: `${manager} run dev`, script: {manager, name: 'dev'}, source: 'package.json'}, {dir, env, initCwd: dir}),
    )

  it('yarn and bun always run their own, and say why; pnpm without pnpm on PATH too', () => {
    pkg({dev: 'node env.js'})
    expect(note('yarn')).toMatch(/^via the package manager: yarn 1 puts a temporary directory of its own shims first on PATH/)
    writeFileSync(path.join(dir, '.yarnrc.yml'), 'nodeLinker: pnp\n')
    expect(note('yarn')).toMatch(/^via the package manager: yarn 2\+ .*Plug'n'Play/)
    rmSync(path.join(dir, '.yarnrc.yml'))
    expect(note('bun')).toMatch(/^via the package manager: bun gives scripts variables of its own/)
    expect(note('pnpm', {...CLEAN, PATH: '/nonexistent'})).toBe(
      'via the package manager: pnpm was not found on PATH (its version names the user agent)',
    )
  })

  it.skipIf(!PNPM)('a plain pnpm project runs directly, and says so', () => {
    pkg({dev: 'node env.js'})
    expect(note('pnpm')).toBe("direct (the script line with pnpm's environment, without starting pnpm)")
  })
})
