// A package.json script run without npm sees what it sees under `npm run`: the same npm_* variables, PATH order,
// pre/post scripts, arguments, exit codes. Each case runs real npm and the direct plan on the same package.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {planNpmScript} from '../../src/core/discovery/script-runner.js'

let dir: string
const ENV_JS = `const keys = Object.keys(process.env).filter((k) => /^npm_(lifecycle|package|command|config_user_agent|execpath|node_execpath)|^INIT_CWD$|^NODE$|^PATH$/.test(k)).sort()
const out = {}
for (const k of keys) out[k] = process.env[k]
out.ARGV = process.argv.slice(2)
console.log('ENV ' + JSON.stringify(out))
process.exitCode = Number(process.env.EXIT_WITH ?? 0)
`

function pkg(scripts: Record<string, string>): void {
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({config: {port: '8080'}, engines: {node: '>=18'}, name: 'probe-app', scripts, version: '1.2.3'}),
  )
}

/** Runs `npm run <script> -- args` the real way, from `from`. */
function viaNpm(script: string, args: string[], from = dir, env: NodeJS.ProcessEnv = {}) {
  return spawnSync('npm', ['run', '--silent', script, ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: from,
    encoding: 'utf8',
    env: {...process.env, ...env},
    timeout: 60_000,
  })
}

/** Runs the same script as preview does: the plan's shell line with its variables. */
function direct(script: string, args: string[], from = dir, env: NodeJS.ProcessEnv = {}) {
  const plan = planNpmScript({args, dir, env: process.env, initCwd: from, script})
  if (!plan.direct) throw new Error(plan.reason)
  return spawnSync('/bin/sh', ['-c', plan.command], {
    cwd: dir,
    encoding: 'utf8',
    env: {...process.env, ...plan.env, ...env},
    timeout: 60_000,
  })
}

function envOf(stdout: string): Record<string, unknown> {
  const line = stdout.split('\n').find((l) => l.startsWith('ENV '))
  const env = JSON.parse(line!.slice(4)) as Record<string, unknown>
  // npm's own copy of @npmcli/run-script puts its node-gyp shim dir on PATH; ours puts ours: the same shim.
  env.PATH = String(env.PATH)
    .split(':')
    .filter((p) => !p.endsWith('node-gyp-bin'))
    .join(':')
  return env
}

beforeAll(() => {
  dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'script-runner-')))
  writeFileSync(path.join(dir, 'env.js'), ENV_JS)
  mkdirSync(path.join(dir, 'sub'))
})
afterAll(() => rmSync(dir, {force: true, recursive: true}))

describe('package.json scripts without npm', () => {
  it('the same npm_* variables, INIT_CWD, NODE and PATH order as npm run', () => {
    pkg({dev: 'node env.js'})
    const sub = path.join(dir, 'sub')
    const npm = viaNpm('dev', [], sub)
    const ours = direct('dev', [], sub)
    expect(npm.status).toBe(0)
    expect(ours.status).toBe(0)
    const a = envOf(npm.stdout)
    const b = envOf(ours.stdout)
    expect(b).toEqual(a)
    expect(String(b.PATH).split(':')[0]).toBe(path.join(dir, 'node_modules', '.bin'))
    expect(b.npm_lifecycle_event).toBe('dev')
    expect(b.INIT_CWD).toBe(sub)
  })

  it('arguments with spaces and quotes reach the script as npm passes them', () => {
    pkg({dev: 'node env.js'})
    const args = ['a b', "c'd", '$HOME', '--flag=x y']
    expect(envOf(direct('dev', args).stdout).ARGV).toEqual(envOf(viaNpm('dev', args).stdout).ARGV)
    expect(envOf(direct('dev', args).stdout).ARGV).toEqual(args)
  })

  it('pre and post scripts run around it, each with its own lifecycle event; a failure stops the chain with its code', () => {
    pkg({
      dev: 'node env.js && echo "MAIN $npm_lifecycle_event"',
      postdev: 'echo "POST $npm_lifecycle_event"',
      predev: 'echo "PRE $npm_lifecycle_event"',
    })
    const lines = (r: {stdout: string}) => r.stdout.split('\n').filter((l) => /^(PRE|MAIN|POST) /.test(l))
    expect(lines(direct('dev', []))).toEqual(['PRE predev', 'MAIN dev', 'POST postdev'])
    expect(lines(direct('dev', []))).toEqual(lines(viaNpm('dev', [])))
    const failed = direct('dev', [], dir, {EXIT_WITH: '3'})
    const failedNpm = viaNpm('dev', [], dir, {EXIT_WITH: '3'})
    expect(failed.status).toBe(3)
    expect(failedNpm.status).toBe(3)
    expect(lines(failed)).toEqual(['PRE predev'])
  })

  it('falls back to npm when a project .npmrc could change how npm runs scripts, or the script is missing', () => {
    pkg({dev: 'node env.js'})
    writeFileSync(path.join(dir, '.npmrc'), 'script-shell=/bin/bash\n')
    try {
      const plan = planNpmScript({dir, env: process.env, script: 'dev'})
      expect(plan).toEqual({direct: false, reason: expect.stringContaining('.npmrc')})
    } finally {
      rmSync(path.join(dir, '.npmrc'))
    }

    expect(planNpmScript({dir, env: process.env, script: 'start'}).direct).toBe(false)
  })
})

describe('a command typed as npm run', () => {
  it('--command "npm run dev -- --x 1" is planned like the discovered script, arguments included; shell syntax goes to npm', async () => {
    const {scriptPlan} = await import('../../src/core/discovery/commands.js')
    pkg({dev: 'node env.js'})
    const typed = scriptPlan({command: 'npm run dev -- --x 1', source: '--command'}, {dir, env: process.env, initCwd: dir})
    expect(typed).toMatchObject({command: 'node env.js --x 1', direct: true})
    expect(scriptPlan({command: 'npm run dev && echo hi', source: '--command'}, {dir, env: process.env, initCwd: dir})).toBeNull()
    expect(scriptPlan({command: 'node server.js', source: '--command'}, {dir, env: process.env, initCwd: dir})).toBeNull()
  })
})

describe('signals', () => {
  it('stopping the process group reaches the script as under npm: it gets SIGTERM and its exit is seen', async () => {
    const {killGroup, spawnShellGroup} = await import('../../src/core/process.js')
    writeFileSync(
      path.join(dir, 'long.js'),
      "process.on('SIGTERM', () => { console.log('TERM'); process.exit(143) }); setInterval(() => {}, 1000); console.log('up')\n",
    )
    pkg({dev: 'node long.js', predev: 'echo pre'})
    const run = async (command: string, env: Record<string, string>) => {
      const child = spawnShellGroup(command, {cwd: dir, env: {...process.env, ...env}})
      let out = ''
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))))
      for (let i = 0; i < 100 && !out.includes('up'); i++) await new Promise((r) => setTimeout(r, 50))
      await killGroup(child.pid!, {graceMs: 2000})
      return {code: await exited, out}
    }

    const plan = planNpmScript({dir, env: process.env, script: 'dev'})
    if (!plan.direct) throw new Error(plan.reason)
    const ours = await run(plan.command, plan.env)
    const npm = await run('npm run dev', {})
    expect(ours.out).toMatch(/pre[^]*up[^]*TERM/)
    expect(npm.out).toMatch(/pre[^]*up[^]*TERM/)
    expect(ours.code).not.toBe(0)
    expect(npm.code).not.toBe(0)
  })
})
