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

export type ScriptPlan =
  | {direct: true; command: string; env: Record<string, string>; /** whose semantics it reproduces */ manager: 'npm' | 'pnpm'}
  | {direct: false; reason: string}

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

/** The package.json of `dir` (a script plan's source), or why it could not be read. */
function readPackage(dir: string): {pkg: PackageJson; pkgFile: string} | {reason: string} {
  const pkgFile = path.join(dir, 'package.json')
  try {
    return {pkg: JSON.parse(readFileSync(pkgFile, 'utf8')) as PackageJson, pkgFile}
  } catch {
    return {reason: 'package.json could not be read'}
  }
}

/**
 * How to run `npm run <script> [args]` in `dir` without npm: the shell line and the variables npm would add.
 * `initCwd` is where the user started (INIT_CWD).
 */
export function planNpmScript(opts: {dir: string; script: string; args?: string[]; env: NodeJS.ProcessEnv; initCwd?: string}): ScriptPlan {
  const read = readPackage(opts.dir)
  if ('reason' in read) return {direct: false, reason: read.reason}
  const {pkg, pkgFile} = read
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
  return lifecycle('npm', scripts, opts.script, opts.args ?? [], setPATH(opts.dir, undefined, base))
}

/**
 * The shell line of `<pm> run <name> [args]` as npm and pnpm run it: pre<name>, <name> with the arguments appended
 * shell-quoted, post<name>, each its own shell with its own npm_lifecycle_event/script, post only after success,
 * the failing step's exit code.
 */
function lifecycle(
  manager: 'npm' | 'pnpm',
  scripts: Record<string, unknown>,
  name: string,
  argv: string[],
  env: Record<string, string>,
): ScriptPlan {
  const main = scripts[name] as string
  const args = argv.map(shq).join(' ')
  const steps: {event: string; script: string}[] = []
  const pre = scripts[`pre${name}`]
  const post = scripts[`post${name}`]
  if (typeof pre === 'string' && pre !== '') steps.push({event: `pre${name}`, script: pre})
  steps.push({event: name, script: args ? `${main} ${args}` : main})
  if (typeof post === 'string' && post !== '') steps.push({event: `post${name}`, script: post})
  if (steps.length === 1) {
    // The common case: the script's own line is the command (one shell, as npm runs it).
    return {
      command: steps[0]!.script,
      direct: true,
      env: {...env, npm_lifecycle_event: name, npm_lifecycle_script: steps[0]!.script},
      manager,
    }
  }

  // pre && main && post, each in its own shell with its own lifecycle variables; the first failure's code wins.
  const line = steps
    .map((s) => `npm_lifecycle_event=${shq(s.event)} npm_lifecycle_script=${shq(s.script)} /bin/sh -c ${shq(s.script)}`)
    .join(' && ')
  return {command: line, direct: true, env: {...env, npm_lifecycle_event: name, npm_lifecycle_script: main}, manager}
}

/**
 * The pnpm releases whose script environment planPnpmScript reproduces, checked variable by variable against the
 * real pnpm (test/unit/script-runner-pnpm.test.ts). Any other pnpm runs its scripts itself.
 */
const PNPM_CHECKED_MAJORS = [12]

/** The first `name` on PATH, as PATH spells it. */
function onPath(env: NodeJS.ProcessEnv, name: string): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name)
  }

  return null
}

/** pnpm on PATH: its version, the executable its scripts see as npm_execpath, and its package directory. */
function findPnpm(env: NodeJS.ProcessEnv): {version: string; execpath: string; dir: string} | null {
  const bin = onPath(env, 'pnpm')
  if (!bin) return null
  try {
    const execpath = realpathSync(bin) // <pkg>/pnpm (pnpm 11+: a native executable) or <pkg>/bin/pnpm.cjs
    for (const dir of [path.dirname(execpath), path.dirname(path.dirname(execpath))]) {
      const pkgFile = path.join(dir, 'package.json')
      if (!existsSync(pkgFile)) continue
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {name?: string; version?: string}
      if ((pkg.name === 'pnpm' || pkg.name === '@pnpm/exe') && typeof pkg.version === 'string') return {dir, execpath, version: pkg.version}
    }
  } catch {}

  return null
}

/** Settings (in .npmrc files or pnpm's rc, or as *_config_* variables) that change how pnpm runs a script. */
const PNPM_SETTINGS = [
  'script-shell',
  'shell-emulator',
  'node-options',
  'enable-pre-post-scripts',
  'ignore-scripts',
  'verify-deps-before-run',
  'manage-package-manager-versions',
]
const PNPM_SCRIPT_SETTINGS = new RegExp(`^\\s*(${PNPM_SETTINGS.join('|')})\\s*=`, 'm')
const PNPM_SCRIPT_VARIABLES = new RegExp(`^(npm|pnpm)_config_(${PNPM_SETTINGS.map((s) => s.replaceAll('-', '_')).join('|')})$`, 'i')

/** Why pnpm could run the script differently from the plan (null when nothing does). */
function pnpmConcern(dir: string, pkg: PackageJson, pnpm: {version: string}, env: NodeJS.ProcessEnv): string | null {
  for (let d = dir; ; d = path.dirname(d)) {
    // A workspace adds its root's bins and settings (pnpm-workspace.yaml also holds settings in pnpm 10+).
    if (existsSync(path.join(d, 'pnpm-workspace.yaml'))) return `${path.join(d, 'pnpm-workspace.yaml')}: a pnpm workspace`
    if (path.dirname(d) === d) break
  }

  const project = path.join(dir, '.npmrc')
  if (existsSync(project)) return `${project} may hold settings pnpm applies to scripts`
  // pnpm switches to the version packageManager names (manage-package-manager-versions).
  const wanted = typeof pkg.packageManager === 'string' ? pkg.packageManager : null
  if (wanted && wanted.split('+')[0] !== `pnpm@${pnpm.version}`) return `package.json asks for ${wanted} (pnpm on PATH is ${pnpm.version})`
  const config = env.XDG_CONFIG_HOME ?? path.join(env.HOME ?? os.homedir(), '.config')
  const user = env.npm_config_userconfig ?? path.join(env.HOME ?? os.homedir(), '.npmrc')
  for (const f of [path.join(config, 'pnpm', 'rc'), user]) {
    try {
      if (PNPM_SCRIPT_SETTINGS.test(readFileSync(f, 'utf8'))) return `${f} sets how pnpm runs scripts`
    } catch {}
  }

  // pnpm drops the npm_package_* variables it inherits (preview run from another package's script has some); a
  // plan can only add variables.
  const inherited = Object.keys(env).find((k) => k.startsWith('npm_package_'))
  if (inherited) return `${inherited} in the environment (from an outer package script): pnpm clears those`
  const variable = Object.keys(env).find((k) => PNPM_SCRIPT_VARIABLES.test(k))
  if (variable) return `${variable} in the environment sets how pnpm runs scripts`
  return null
}

/**
 * How to run `pnpm run <script>` in `dir` without pnpm, or why not. pnpm (12) gives a script npm's package
 * variables and lifecycle, its own user agent, PNPM_SCRIPT_SRC_DIR, and a PATH of the package's own
 * node_modules/.bin (no ancestors, unlike npm), pnpm's node-gyp shim dir, then PATH.
 */
export function planPnpmScript(opts: {dir: string; script: string; env: NodeJS.ProcessEnv; initCwd?: string}): ScriptPlan {
  const read = readPackage(opts.dir)
  if ('reason' in read) return {direct: false, reason: read.reason}
  const {pkg, pkgFile} = read
  const scripts = pkg.scripts ?? {}
  if (typeof scripts[opts.script] !== 'string' || scripts[opts.script] === '') return {direct: false, reason: `no "${opts.script}" script`}
  const pnpm = findPnpm(opts.env)
  if (!pnpm) return {direct: false, reason: 'pnpm was not found on PATH (its version names the user agent)'}
  if (!PNPM_CHECKED_MAJORS.includes(Number(pnpm.version.split('.')[0]))) {
    return {direct: false, reason: `pnpm ${pnpm.version}: only pnpm ${PNPM_CHECKED_MAJORS.join(', ')}'s script environment is reproduced`}
  }

  const concern = pnpmConcern(opts.dir, pkg, pnpm, opts.env)
  if (concern) return {direct: false, reason: concern}
  const node = onPath(opts.env, 'node') // pnpm's NODE is the node on PATH, not the one it runs on (it is native)
  const gypBin = path.join(pnpm.dir, 'dist', 'node-gyp-bin')
  if (!node || !existsSync(gypBin)) return {direct: false, reason: `pnpm ${pnpm.version} is laid out in a way not seen before`}
  const packageEnvs = require('@npmcli/run-script/lib/package-envs.js') as (pkg: PackageJson) => Record<string, string>
  const env: Record<string, string> = {
    ...packageEnvs(pkg),
    INIT_CWD: opts.initCwd ?? opts.dir,
    NODE: node,
    PATH: [path.join(opts.dir, 'node_modules', '.bin'), gypBin, opts.env.PATH ?? ''].join(path.delimiter),
    PNPM_SCRIPT_SRC_DIR: opts.dir,
    npm_command: 'run-script',
    // pnpm keeps a node-gyp it inherits (npm's, under npx), else names its own.
    npm_config_node_gyp: opts.env.npm_config_node_gyp ?? path.join(pnpm.dir, 'dist', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    npm_config_user_agent: `pnpm/${pnpm.version} npm/? node/? ${process.platform} ${process.arch}`,
    npm_execpath: pnpm.execpath,
    npm_node_execpath: node,
    npm_package_json: pkgFile,
  }
  return lifecycle('pnpm', scripts, opts.script, [], env)
}
