// Which Python runs a project's dev server: its virtualenv when there is one, else the first python3 on PATH
// that can import the framework.
//
// Decisions:
// - A virtualenv is `.venv/` or `venv/` holding `pyvenv.cfg` and `bin/python`, in the directory discovery looks
//   at or one above it up to the checkout's top. A preview usually runs in a git worktree under .sdd/worktrees/,
//   where the gitignored virtualenv is absent, so the same places in the repository's main checkout are looked at
//   next: that is the virtualenv the developer made.
// - A virtualenv is trusted without asking it (the developer's choice; a missing package shows in the log).
// - Without one, each distinct python3 on PATH is asked `import <module>` (bounded in count and time): pyenv's or
//   Homebrew's python3 often comes first on PATH while the framework lives in the system's (Debian's
//   python3-django is only importable by /usr/bin/python3).
import {accessSync, constants, existsSync, readFileSync, realpathSync, statSync} from 'node:fs'
import path from 'node:path'
import {probeSync} from '../process.js'

/** Distinct python3 binaries on PATH asked at most, and how long each may take (a pyenv shim is slow to start). */
export const PYTHON_PROBE_LIMIT = 4
export const PYTHON_PROBE_TIMEOUT_MS = 5000

export interface PythonChoice {
  /** As written in the command: `.venv/bin/python`, an absolute path, or `python3`. */
  python: string
  /** Why this one, for the candidate's source: `.venv`, `/repo/.venv of the main checkout`, `python3 on PATH`, ... */
  via: string
  /** false when no python3 found could import the module (the command still names one; the log will say why). */
  hasModule: boolean
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}

function virtualenvIn(dir: string): string | null {
  for (const name of ['.venv', 'venv']) {
    const venv = path.join(dir, name)
    if (existsSync(path.join(venv, 'pyvenv.cfg')) && isExecutable(path.join(venv, 'bin', 'python'))) return venv
  }

  return null
}

/** The top of the checkout holding `dir` (the directory with `.git`), or null outside one. */
function checkoutTop(dir: string): string | null {
  for (let d = dir, i = 0; i < 64; i++) {
    if (existsSync(path.join(d, '.git'))) return d
    const up = path.dirname(d)
    if (up === d) return null
    d = up
  }

  return null
}

/** The main checkout of a linked worktree (`.git` is a file naming `gitdir:`), or null for a main checkout. */
export function mainCheckoutOf(top: string): string | null {
  let gitdir: string
  try {
    const dotGit = path.join(top, '.git')
    if (!statSync(dotGit).isFile()) return null
    const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'))
    if (!m?.[1]) return null
    gitdir = path.resolve(top, m[1].trim())
    const common = path.resolve(gitdir, readFileSync(path.join(gitdir, 'commondir'), 'utf8').trim())
    return path.basename(common) === '.git' ? path.dirname(common) : null
  } catch {
    return null
  }
}

/** The project's virtualenv for `cwd`: here or above up to the checkout's top, then the same places in the main checkout. */
export function findVirtualenv(cwd: string): {venv: string; mainCheckout: boolean} | null {
  const top = checkoutTop(cwd)
  const dirs: string[] = [cwd]
  if (top && cwd.startsWith(top + path.sep)) {
    for (let d = path.dirname(cwd); d.startsWith(top); d = path.dirname(d)) {
      dirs.push(d)
      if (d === top) break
    }
  }

  for (const d of dirs) {
    const venv = virtualenvIn(d)
    if (venv) return {mainCheckout: false, venv}
  }

  const main = top ? mainCheckoutOf(top) : null
  if (main && top) {
    for (const d of dirs) {
      const venv = virtualenvIn(path.join(main, path.relative(top, d)))
      if (venv) return {mainCheckout: true, venv}
    }
  }

  return null
}

/** Every distinct python3 on PATH, in PATH order (symlinks to one binary count once). */
export function pythonsOnPath(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    const file = path.join(dir, 'python3')
    if (!isExecutable(file)) continue
    let real = file
    try {
      real = realpathSync(file)
    } catch {
      // keep the path as found
    }

    if (seen.has(real)) continue
    seen.add(real)
    out.push(file)
  }

  return out
}

/** Picks the python for one directory; remembers each probe's answer, so several frameworks ask each binary once. */
export class PythonResolver {
  private readonly venv: {venv: string; mainCheckout: boolean} | null
  private readonly answers = new Map<string, boolean>()
  private pythons: string[] | undefined

  constructor(
    private readonly cwd: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.venv = findVirtualenv(cwd)
  }

  /** The python to run a server that imports `module`. */
  choose(module: string): PythonChoice {
    if (this.venv) {
      const bin = path.join(this.venv.venv, 'bin', 'python')
      const relative = path.relative(this.cwd, bin)
      return this.venv.mainCheckout
        ? {hasModule: true, python: bin, via: `${this.venv.venv} of the main checkout`}
        : {
            hasModule: true,
            python: relative.startsWith('..') ? bin : relative,
            via: relative.startsWith('..') ? this.venv.venv : path.dirname(path.dirname(relative)),
          }
    }

    this.pythons ??= pythonsOnPath(this.env)
    for (const [i, python] of this.pythons.slice(0, PYTHON_PROBE_LIMIT).entries()) {
      const key = `${python}\0${module}`
      let ok = this.answers.get(key)
      if (ok === undefined) {
        ok = probeSync(python, ['-c', `import ${module}`], {cwd: this.cwd, env: this.env, timeoutMs: PYTHON_PROBE_TIMEOUT_MS})
        this.answers.set(key, ok)
      }

      if (ok)
        return i === 0
          ? {hasModule: true, python: 'python3', via: 'python3 on PATH'}
          : {hasModule: true, python, via: `${python}: the first python3 on PATH that imports ${module}`}
    }

    return {hasModule: false, python: 'python3', via: `no .venv, and no python3 on PATH imports ${module}`}
  }
}
