// Dev commands beyond Node: Django, Flask, FastAPI, Rails, Go and Deno projects, and a plain static site.
//
// Each detector looks at a few files in the directory (never recursing into the tree) and returns candidates
// with where they came from. Every command binds 127.0.0.1 and takes the port from $PORT, which the supervisor
// sets (the commands run under `sh -c`); Go and Deno programs pick their own address, from PORT by convention.
// Files are read only up to READ_LIMIT bytes: enough for imports and manifests, cheap on a huge generated file.
import {closeSync, existsSync, openSync, readdirSync, readSync, statSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {PythonResolver, type PythonChoice} from './python.js'

export interface StackCandidate {
  command: string
  source: string
}

/** How much of a file detection reads. */
export const READ_LIMIT = 256 * 1024
/** How many top-level .py files are scanned for a Flask import when only requirements name Flask. */
const PY_SCAN_LIMIT = 50

/** The static-file server shipped in this package (compiled next to this module). */
export const STATIC_SERVER_SCRIPT = fileURLToPath(new URL('static-server.js', import.meta.url))

/** Quotes a word for sh when it needs it. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

function read(file: string): string | null {
  try {
    if (!statSync(file).isFile()) return null
    const fd = openSync(file, 'r')
    try {
      const buf = Buffer.alloc(READ_LIMIT)
      const n = readSync(fd, buf, 0, READ_LIMIT, 0)
      return buf.toString('utf8', 0, n)
    } finally {
      closeSync(fd)
    }
  } catch {
    return null
  }
}

const imports = (pkg: string) => new RegExp(`^[ \\t]*(?:from[ \\t]+${pkg}(?:\\.[\\w.]+)?[ \\t]+import\\b|import[ \\t]+${pkg}\\b)`, 'm')
const IMPORTS_FLASK = imports('flask')
const IMPORTS_FASTAPI = imports('fastapi')
// `app = FastAPI(`, `api: FastAPI = fastapi.FastAPI(`
const FASTAPI_VAR = /^(\w+)[ \t]*(?::[ \t]*[\w.]+[ \t]*)?=[ \t]*(?:fastapi\.)?FastAPI[ \t]*\(/m
const FLASK_APP_LINE = /^[ \t]*(?:export[ \t]+)?FLASK_APP[ \t]*=[ \t]*["']?([^"'\s#]+)/m

/** Whether a requirements file or pyproject.toml names a distribution (`flask`, not `flask-login`). */
export function namesDistribution(text: string, name: string): boolean {
  const n = name.replace(/[-_.]/g, '[-_.]')
  // requirements.txt / Pipfile lines: `Flask==3.0`, `flask[async]>=2`, `flask`, `flask = "*"`
  const line = new RegExp(`^[ \\t]*["']?${n}["']?[ \\t]*(?:\\[[^\\]]*\\])?[ \\t]*(?:[=<>!~;@]|$)`, 'im')
  // pyproject.toml dependency arrays: `"flask>=3"`, `'Flask'`
  const quoted = new RegExp(`["']${n}[ \\t]*(?:\\[[^\\]]*\\])?[ \\t]*(?:[=<>!~;@][^"']*)?["']`, 'i')
  return line.test(text) || quoted.test(text)
}

const DEPENDENCY_FILES = ['requirements.txt', 'requirements-dev.txt', 'pyproject.toml', 'Pipfile']

function dependencyFileNaming(cwd: string, name: string): string | null {
  for (const file of DEPENDENCY_FILES) {
    const text = read(path.join(cwd, file))
    if (text !== null && namesDistribution(text, name)) return file
  }

  return null
}

function pythonSource(what: string, py: PythonChoice): string {
  return `${what}, ${py.via}`
}

function django(cwd: string, py: () => PythonResolver): StackCandidate[] {
  const text = read(path.join(cwd, 'manage.py'))
  if (text === null || !/django/i.test(text)) return []
  const choice = py().choose('django')
  return [
    {command: `${shellQuote(choice.python)} manage.py runserver 127.0.0.1:$PORT`, source: pythonSource('manage.py (Django', choice) + ')'},
  ]
}

interface FlaskApp {
  /** FLASK_APP value, or null when Flask's own lookup (wsgi.py, app.py) finds it. */
  app: string | null
  /** Where it was seen. */
  seen: string
  /** Found by an import or FLASK_APP (ranked above FastAPI), rather than only a dependency file naming flask. */
  strong: boolean
}

function findFlask(cwd: string): FlaskApp | null {
  for (const file of ['.flaskenv', '.env']) {
    const m = FLASK_APP_LINE.exec(read(path.join(cwd, file)) ?? '')
    if (m?.[1]) return {app: m[1], seen: `FLASK_APP in ${file}`, strong: true}
  }

  // Flask's own lookup without FLASK_APP tries wsgi.py, then app.py (a module or a package): no need to name them.
  for (const file of ['wsgi.py', 'app.py', path.join('app', '__init__.py')]) {
    if (IMPORTS_FLASK.test(read(path.join(cwd, file)) ?? '')) return {app: null, seen: `${file} imports flask`, strong: true}
  }

  const named = dependencyFileNaming(cwd, 'flask')
  if (!named) return null
  let files: string[] = []
  try {
    files = readdirSync(cwd)
      .filter((f) => f.endsWith('.py') && !['manage.py', 'setup.py', 'conftest.py'].includes(f))
      .sort()
  } catch {
    // unreadable directory: no module to name
  }

  for (const file of files.slice(0, PY_SCAN_LIMIT)) {
    if (IMPORTS_FLASK.test(read(path.join(cwd, file)) ?? ''))
      return {app: file.slice(0, -3), seen: `${named} names flask; ${file} imports it`, strong: true}
  }

  return {app: null, seen: `${named} names flask`, strong: false}
}

function flaskCandidate(found: FlaskApp, py: () => PythonResolver): StackCandidate {
  const choice = py().choose('flask')
  // FLASK_APP as an environment prefix rather than --app: --app needs Flask 2.2, and distributions ship older.
  const app = found.app === null ? '' : `FLASK_APP=${shellQuote(found.app)} `
  const flask = choice.hasModule ? `${shellQuote(choice.python)} -m flask` : 'flask'
  return {command: `${app}${flask} run --host 127.0.0.1 --port $PORT`, source: pythonSource(`${found.seen} (Flask`, choice) + ')'}
}

function fastapi(cwd: string, py: () => PythonResolver): StackCandidate[] {
  for (const [file, module] of [
    ['main.py', 'main'],
    ['app.py', 'app'],
    [path.join('app', 'main.py'), 'app.main'],
    [path.join('src', 'main.py'), 'src.main'],
  ] as const) {
    const text = read(path.join(cwd, file)) ?? ''
    if (!IMPORTS_FASTAPI.test(text)) continue
    const variable = FASTAPI_VAR.exec(text)?.[1] ?? 'app'
    const choice = py().choose('uvicorn')
    const uvicorn = choice.hasModule ? `${shellQuote(choice.python)} -m uvicorn` : 'uvicorn'
    return [
      {
        command: `${uvicorn} ${module}:${variable} --host 127.0.0.1 --port $PORT`,
        source: pythonSource(`${file} imports fastapi (FastAPI`, choice) + ')',
      },
    ]
  }

  return []
}

function rails(cwd: string): StackCandidate[] {
  if (existsSync(path.join(cwd, 'bin', 'rails'))) return [{command: 'bin/rails server -b 127.0.0.1 -p $PORT', source: 'bin/rails (Rails)'}]
  const gemfile = read(path.join(cwd, 'Gemfile'))
  if (gemfile !== null && /^[ \t]*gem[ \t]+["']rails["']/m.test(gemfile) && existsSync(path.join(cwd, 'config.ru'))) {
    return [{command: 'bundle exec rails server -b 127.0.0.1 -p $PORT', source: 'Gemfile gem "rails", no bin/rails (Rails)'}]
  }

  return []
}

function hasMainPackage(dir: string): boolean {
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'))
  } catch {
    return false
  }

  return files.some((f) => /^package[ \t]+main\b/m.test(read(path.join(dir, f)) ?? ''))
}

function go(cwd: string): StackCandidate[] {
  if (!existsSync(path.join(cwd, 'go.mod'))) return []
  if (hasMainPackage(cwd)) return [{command: 'go run .', source: 'go.mod, package main in . (Go)'}]
  // No main package at the top: the cmd/<name>/ layout, each program a candidate.
  let names: string[]
  try {
    names = readdirSync(path.join(cwd, 'cmd'), {withFileTypes: true})
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()
  } catch {
    return []
  }

  return names
    .filter((n) => hasMainPackage(path.join(cwd, 'cmd', n)))
    .map((n) => ({command: `go run ./cmd/${n}`, source: `go.mod, package main in cmd/${n} (Go)`}))
}

/** JSON with comments and trailing commas (deno.jsonc) to plain JSON; strings are left untouched. */
export function stripJsonc(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '"') {
      const start = i
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++
      out += text.slice(start, i + 1)
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++
      out += '\n'
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      i = end === -1 ? text.length : end + 1
      out += ' '
    } else {
      out += c
    }
  }

  return out.replace(/,(\s*[}\]])/g, '$1')
}

function deno(cwd: string): StackCandidate[] {
  for (const file of ['deno.json', 'deno.jsonc']) {
    const text = read(path.join(cwd, file))
    if (text === null) continue
    let tasks: Record<string, unknown> = {}
    try {
      tasks = (JSON.parse(stripJsonc(text)) as {tasks?: Record<string, unknown>}).tasks ?? {}
    } catch {
      return [] // not ours to judge; `deno task` reports a broken config itself
    }

    const isTask = (t: unknown) =>
      (typeof t === 'string' && t.trim() !== '') ||
      (typeof t === 'object' && t !== null && typeof (t as {command?: unknown}).command === 'string')
    return ['dev', 'start']
      .filter((name) => isTask(tasks[name]))
      .map((name) => ({command: `deno task ${name}`, source: `${file} tasks.${name} (Deno)`}))
  }

  return []
}

/** What each detector looks at, for the "nothing to run" error and --list-commands. */
export const STACKS_SEARCHED = [
  'manage.py (Django)',
  'FLASK_APP in .flaskenv or .env, wsgi.py or app.py importing flask, requirements.txt or pyproject.toml naming flask (Flask)',
  'main.py, app.py or app/main.py importing fastapi (FastAPI)',
  'bin/rails, Gemfile (Rails)',
  'go.mod with a main package (Go)',
  'deno.json or deno.jsonc tasks.dev, tasks.start (Deno)',
]

/** Candidates from the non-Node stacks, in precedence order: Django, Flask, FastAPI, Rails, Go, Deno. */
export function discoverStacks(cwd: string, env: NodeJS.ProcessEnv): StackCandidate[] {
  let resolver: PythonResolver | undefined
  const py = () => (resolver ??= new PythonResolver(cwd, env)) // probes python only for a Python project
  const out = django(cwd, py)
  const flask = findFlask(cwd)
  if (flask?.strong) out.push(flaskCandidate(flask, py))
  out.push(...fastapi(cwd, py))
  // Flask named only by a dependency file: below an app found by its import (a FastAPI app.py with flask listed).
  if (flask && !flask.strong) out.push(flaskCandidate(flask, py))
  out.push(...rails(cwd), ...go(cwd), ...deno(cwd))
  return out
}

/** A static site: an index.html, served by the package's sirv server with the node running preview. */
export function staticSiteCandidate(cwd: string): StackCandidate | null {
  if (!existsSync(path.join(cwd, 'index.html'))) return null
  return {
    command: `${shellQuote(process.execPath)} ${shellQuote(STATIC_SERVER_SCRIPT)}`,
    source: 'index.html, nothing else to run (static site, served by sirv)',
  }
}
