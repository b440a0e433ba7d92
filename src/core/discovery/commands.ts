// Finding the dev command: --command, then preview.yaml, then package.json scripts, then a Procfile, then the
// other stacks (Django, Flask, FastAPI, Rails, Go, Deno: src/core/discovery/stacks.ts), then a static site.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {planNpmScript, planPnpmScript, type ScriptPlan} from './script-runner.js'
import {discoverStacks, STACKS_SEARCHED, staticSiteCandidate} from './stacks.js'
import {DiscoveryFailed} from '../errors.js'

export type PackageManager = 'pnpm' | 'yarn' | 'bun' | 'npm'

export interface CommandCandidate {
  command: string
  /** Where it came from, e.g. `--command`, `.sdd/preview.yaml command`, `package.json scripts.dev (npm, package-lock.json)`. */
  source: string
  /** A package.json script: its name and the package manager its lockfile names. */
  script?: {name: string; manager: PackageManager}
  /** How a package.json script is run: `direct` (without the package manager) or the reason it is not. */
  runner?: string
}

export interface Discovery {
  candidates: CommandCandidate[]
  /** What was looked at, in order (for the error when nothing is found). */
  searched: string[]
  packageManager: PackageManager | null
  lockfile: string | null
  /** `.tool-versions` lines (runtime hints), shown by --list-commands. */
  runtimeHints: string[]
}

const LOCKFILES: Array<[string, PackageManager]> = [
  ['pnpm-lock.yaml', 'pnpm'],
  ['yarn.lock', 'yarn'],
  ['bun.lockb', 'bun'],
  ['bun.lock', 'bun'],
  ['package-lock.json', 'npm'],
  ['npm-shrinkwrap.json', 'npm'],
]

/** The package manager a directory's lockfile names (npm when there is a package.json but no lockfile). */
export function detectPackageManager(cwd: string): {manager: PackageManager; lockfile: string | null} {
  for (const [file, manager] of LOCKFILES) {
    if (existsSync(path.join(cwd, file))) return {lockfile: file, manager}
  }

  return {lockfile: null, manager: 'npm'}
}

function runScript(manager: PackageManager, script: string): string {
  return manager === 'yarn' ? `yarn ${script}` : `${manager} run ${script}`
}

/** Parses a Procfile: the `web:` process, else the first one. */
export function parseProcfile(text: string): Array<{name: string; command: string}> {
  const out: Array<{name: string; command: string}> = []
  for (const raw of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_-]+):\s*(.+)$/.exec(raw.trim())
    if (m?.[1] && m[2]) out.push({command: m[2].trim(), name: m[1]})
  }

  return out
}

/** Every candidate dev command in precedence order (ARCHITECTURE.md "Discovery precedence"). */
export function discoverCommands(opts: {
  cwd: string
  explicit?: string | undefined
  configCommand?: string | undefined
  configFile?: string
  /** PATH for finding a python that imports the framework (default: this process's environment). */
  env?: NodeJS.ProcessEnv
  /** `start` needs only the first candidate: once one is found, skip the stacks (asking pythons costs ~150 ms). */
  firstOnly?: boolean
}): Discovery {
  const candidates: CommandCandidate[] = []
  const searched: string[] = []
  if (opts.explicit) candidates.push({command: opts.explicit, source: '--command'})
  searched.push(`${opts.configFile ?? '.sdd/preview.yaml'} (command)`)
  if (opts.configCommand) candidates.push({command: opts.configCommand, source: '.sdd/preview.yaml command'})
  const overrides = candidates.length

  let packageManager: PackageManager | null = null
  let lockfile: string | null = null
  const pkgFile = path.join(opts.cwd, 'package.json')
  searched.push(`${pkgFile} (scripts.dev, scripts.start)`)
  if (existsSync(pkgFile)) {
    let scripts: Record<string, unknown>
    try {
      scripts = (JSON.parse(readFileSync(pkgFile, 'utf8')) as {scripts?: Record<string, unknown>}).scripts ?? {}
    } catch (error) {
      throw new DiscoveryFailed(`${pkgFile} is not valid JSON: ${(error as Error).message}`, 'Fix package.json, or pass --command.')
    }

    const detected = detectPackageManager(opts.cwd)
    packageManager = detected.manager
    lockfile = detected.lockfile
    const via = `${detected.manager}${detected.lockfile ? `, from ${detected.lockfile}` : ', no lockfile'}`
    for (const script of ['dev', 'start']) {
      if (typeof scripts[script] === 'string' && scripts[script]) {
        candidates.push({
          command: runScript(detected.manager, script),
          script: {manager: detected.manager, name: script},
          source: `package.json scripts.${script} (${via})`,
        })
      }
    }
  }

  const procfile = path.join(opts.cwd, 'Procfile')
  searched.push(`${procfile} (web:, else the first process)`)
  if (existsSync(procfile)) {
    const procs = parseProcfile(readFileSync(procfile, 'utf8'))
    const web = procs.find((p) => p.name === 'web') ?? procs[0]
    if (web) candidates.push({command: web.command, source: `Procfile ${web.name}:`})
  }

  searched.push(...STACKS_SEARCHED)
  if (!opts.firstOnly || candidates.length === 0) candidates.push(...discoverStacks(opts.cwd, opts.env ?? process.env))
  // A static site only when the project names nothing runnable (an index.html next to a package.json dev
  // script is the bundler's entry, not the site).
  searched.push('index.html (static site)')
  if (candidates.length === overrides) {
    const site = staticSiteCandidate(opts.cwd)
    if (site) candidates.push(site)
  }

  const runtimeHints: string[] = []
  const toolVersions = path.join(opts.cwd, '.tool-versions')
  if (existsSync(toolVersions)) {
    for (const line of readFileSync(toolVersions, 'utf8').split(/\r?\n/)) {
      if (line.trim() && !line.trim().startsWith('#')) runtimeHints.push(line.trim())
    }
  }

  return {candidates, lockfile, packageManager, runtimeHints, searched}
}

/** The command to run: the first candidate, or a DiscoveryFailed (exit 2) naming everything searched. */
export function chooseCommand(discovery: Discovery): CommandCandidate {
  const first = discovery.candidates[0]
  if (!first) {
    throw new DiscoveryFailed(
      `Nothing to run: no dev command found. Searched: --command; ${discovery.searched.join('; ')}.`,
      'Pass --command "npm run dev", add `command:` to .sdd/preview.yaml, a "dev" or "start" script to package.json, or a Procfile with a web: line (Django, Flask, FastAPI, Rails, Go, Deno and index.html sites are found by themselves).',
    )
  }

  return first
}

/**
 * How a candidate will run: a package.json script of an npm or pnpm project directly (the script's own line, the
 * environment and PATH its package manager gives it), unless `script_runner: package-manager` or something only the
 * package manager can do says otherwise; yarn and bun always run their own scripts (notDirect says why).
 */
export function scriptPlan(
  candidate: CommandCandidate,
  opts: {dir: string; env: NodeJS.ProcessEnv; initCwd: string; setting?: string | undefined},
): ScriptPlan | null {
  // A command given as `npm run <script> [-- args]` (--command, preview.yaml) is the same thing as discovery's.
  const typed = candidate.script ? null : NPM_RUN.exec(candidate.command)
  const script = candidate.script ?? (typed ? {manager: 'npm' as const, name: typed[1]!} : null)
  if (!script) return null
  const args = typed?.[2]?.trim() ? typed[2].trim().split(/\s+/) : []
  if (opts.setting === 'package-manager') return {direct: false, reason: 'script_runner: package-manager in .sdd/preview.yaml'}
  if (script.manager === 'yarn' || script.manager === 'bun') return {direct: false, reason: notDirect(script.manager, opts.dir)}
  if (script.manager === 'pnpm') return planPnpmScript({dir: opts.dir, env: opts.env, initCwd: opts.initCwd, script: script.name})
  return planNpmScript({args, dir: opts.dir, env: opts.env, initCwd: opts.initCwd, script: script.name})
}

/** Why yarn and bun run their scripts themselves. */
function notDirect(manager: 'yarn' | 'bun', dir: string): string {
  // Seen with bun 1.4: no INIT_CWD, no npm_package_engines_*, the node version it emulates in the user agent.
  if (manager === 'bun') return 'bun gives scripts variables of its own (no INIT_CWD; its user agent): not reproduced'
  const berry = ['.yarnrc.yml', '.pnp.cjs', '.pnp.js'].some((f) => existsSync(path.join(dir, f)))
  return berry
    ? "yarn 2+ (a .yarnrc.yml or Plug'n'Play project): its modules resolve through yarn's own loader"
    : 'yarn 1 puts a temporary directory of its own shims first on PATH and passes its settings as npm_config_*'
}

/** `npm run <script>` and `npm run <script> -- plain args` (no quotes or shell syntax: those go through npm). */
const NPM_RUN = /^npm run(?:-script)? ([A-Za-z0-9:_.@/-]+)(?: -- ([A-Za-z0-9:_.=@/,+ -]*))?$/

/** The runner note --list-commands shows for a package.json script. */
export function runnerNote(plan: ScriptPlan | null): string | undefined {
  if (plan === null) return undefined
  return plan.direct
    ? `direct (the script line with ${plan.manager}'s environment, without starting ${plan.manager})`
    : `via the package manager: ${plan.reason}`
}
