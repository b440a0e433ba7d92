// Runs a package.json script the way `npm run` does, without npm: npm itself takes ~290 ms to start before the
// dev server's own process exists. The environment and PATH come from @npmcli/run-script (npm's own code for it:
// package-envs.js and set-path.js, ~2 ms to load); the lifecycle (pre<name>, <name>, post<name>, each its own shell,
// arguments appended shell-quoted, post only after success, the failing step's exit code) is npm's, as a shell line.
// Whenever npm could do something this cannot (a project .npmrc, another package manager's semantics), it says why
// and the package manager runs the script itself.
import {existsSync, readFileSync, realpathSync} from 'node:fs'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'

const require = createRequire(import.meta.url)

export type ScriptPlan = {direct: true; command: string; env: Record<string, string>} | {direct: false; reason: string}

export interface PackageJson {
  name?: string
  version?: string
  scripts?: Record<string, unknown>
  [key: string]: unknown
}

/** POSIX single-quoting, as npm quotes arguments it appends to a script. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`
}

/** npm's version and CLI path, from the npm found on PATH (for npm_config_user_agent and npm_execpath). */
function findNpm(env: NodeJS.ProcessEnv): {version: string; cli: string} | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    const bin = path.join(dir, 'npm')
    if (!existsSync(bin)) continue
    try {
      const cli = realpathSync(bin) // .../lib/node_modules/npm/bin/npm-cli.js
      const pkg = JSON.parse(readFileSync(path.join(path.dirname(cli), '..', 'package.json'), 'utf8')) as {name?: string; version?: string}
      if (pkg.name === 'npm' && typeof pkg.version === 'string') return {cli, version: pkg.version}
    } catch {}

    return null
  }

  return null
}

/** Settings in npm's config files that change how a script runs (the shell, node's options, its environment). */
const SCRIPT_SETTINGS = /^\s*(script-shell|node-options|shell|ignore-scripts|foreground-scripts)\s*=/m

/**
 * Why npm's config could make `npm run` differ from this: a project .npmrc (npm's local prefix is the package
 * directory), or a user/global npmrc that sets something scripts feel. Null when nothing does.
 */
function npmConfigConcern(dir: string, env: NodeJS.ProcessEnv): string | null {
  const project = path.join(dir, '.npmrc')
  if (existsSync(project)) return `${project} may hold settings npm applies to scripts`
  const user = env.npm_config_userconfig ?? path.join(env.HOME ?? os.homedir(), '.npmrc')
  for (const f of [user, env.npm_config_globalconfig].filter((x): x is string => Boolean(x))) {
    try {
      if (SCRIPT_SETTINGS.test(readFileSync(f, 'utf8'))) return `${f} sets how npm runs scripts`
    } catch {}
  }

  if (Object.keys(env).some((k) => /^npm_config_(script_shell|node_options)$/i.test(k)))
    return 'npm_config_* in the environment sets how npm runs scripts'
  return null
}

/**
 * How to run `npm run <script> [args]` in `dir` without npm: the shell line and the variables npm would add.
 * `initCwd` is where the user started (INIT_CWD).
 */
export function planNpmScript(opts: {dir: string; script: string; args?: string[]; env: NodeJS.ProcessEnv; initCwd?: string}): ScriptPlan {
  const pkgFile = path.join(opts.dir, 'package.json')
  let pkg: PackageJson
  try {
    pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as PackageJson
  } catch {
    return {direct: false, reason: 'package.json could not be read'}
  }

  const scripts = pkg.scripts ?? {}
  const main = scripts[opts.script]
  if (typeof main !== 'string' || main === '') return {direct: false, reason: `no "${opts.script}" script`}
  const concern = npmConfigConcern(opts.dir, opts.env)
  if (concern) return {direct: false, reason: concern}
  const npm = findNpm(opts.env)
  if (!npm) return {direct: false, reason: 'npm was not found on PATH (its version names the user agent)'}

  const packageEnvs = require('@npmcli/run-script/lib/package-envs.js') as (pkg: PackageJson) => Record<string, string>
  const setPATH = require('@npmcli/run-script/lib/set-path.js') as (
    dir: string,
    binPaths: string[] | undefined,
    env: Record<string, string>,
  ) => Record<string, string>
  const base: Record<string, string> = {
    PATH: opts.env.PATH ?? '',
    ...packageEnvs(pkg),
    INIT_CWD: opts.initCwd ?? opts.dir,
    NODE: process.execPath,
    npm_command: 'run',
    npm_config_local_prefix: opts.dir,
    npm_config_user_agent: `npm/${npm.version} node/${process.version} ${process.platform} ${process.arch} workspaces/false`,
    npm_execpath: npm.cli,
    npm_node_execpath: process.execPath,
    npm_package_json: pkgFile,
  }
  // set-path puts node_modules/.bin of dir and every ancestor first, then npm's node-gyp shim dir, then PATH.
  const env = setPATH(opts.dir, undefined, base)
  const args = (opts.args ?? []).map(shq).join(' ')
  const steps: {event: string; script: string}[] = []
  const pre = scripts[`pre${opts.script}`]
  const post = scripts[`post${opts.script}`]
  if (typeof pre === 'string' && pre !== '') steps.push({event: `pre${opts.script}`, script: pre})
  steps.push({event: opts.script, script: args ? `${main} ${args}` : main})
  if (typeof post === 'string' && post !== '') steps.push({event: `post${opts.script}`, script: post})
  if (steps.length === 1) {
    // The common case: the script's own line is the command (one shell, as npm runs it).
    return {
      command: steps[0]!.script,
      direct: true,
      env: {...env, npm_lifecycle_event: opts.script, npm_lifecycle_script: steps[0]!.script},
    }
  }

  // pre && main && post, each in its own shell with its own lifecycle variables; the first failure's code wins.
  const line = steps
    .map((s) => `npm_lifecycle_event=${shq(s.event)} npm_lifecycle_script=${shq(s.script)} /bin/sh -c ${shq(s.script)}`)
    .join(' && ')
  return {command: line, direct: true, env: {...env, npm_lifecycle_event: opts.script, npm_lifecycle_script: main}}
}
