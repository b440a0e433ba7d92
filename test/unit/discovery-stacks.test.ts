// Discovery beyond Node on real directory trees: which command each stack gets, and which python runs it.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {findVirtualenv, PythonResolver} from '../../src/core/discovery/python.js'
import {namesDistribution, shellQuote, STATIC_SERVER_SCRIPT, stripJsonc} from '../../src/core/discovery/stacks.js'
import {discoverCommands} from '../../src/core/discovery/commands.js'
import {probeSync} from '../../src/core/process.js'
import {git} from '../helpers/repo.js'

let dir: string
let bin: string
/** A PATH whose only python3 imports nothing, so commands do not depend on what this machine has installed. */
let env: NodeJS.ProcessEnv
beforeEach(() => {
  dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'stacks-')))
  bin = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'stacks-bin-')))
  env = {PATH: bin}
  fakePython(bin, [])
})
afterEach(() => {
  rmSync(dir, {force: true, recursive: true})
  rmSync(bin, {force: true, recursive: true})
})

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
  writeFileSync(path.join(dir, file), text)
}

/** A python3 that succeeds for `-c "import X"` only for the given modules (and logs each probe). */
function fakePython(where: string, modules: string[]): string {
  const file = path.join(where, 'python3')
  const cases = modules.map((m) => `"import ${m}") exit 0 ;;`).join(' ')
  writeFileSync(file, `#!/bin/sh\necho "$2" >> "$0.probes"\ncase "$2" in ${cases} *) exit 1 ;; esac\n`)
  chmodSync(file, 0o755)
  return file
}

/** A virtualenv as `python -m venv` leaves it, as far as discovery looks (pyvenv.cfg, bin/python). */
function fakeVenv(at: string): void {
  mkdirSync(path.join(at, 'bin'), {recursive: true})
  writeFileSync(path.join(at, 'pyvenv.cfg'), 'home = /usr/bin\ninclude-system-site-packages = true\n')
  writeFileSync(path.join(at, 'bin', 'python'), '#!/bin/sh\nexit 0\n')
  chmodSync(path.join(at, 'bin', 'python'), 0o755)
}

const found = () => discoverCommands({cwd: dir, env}).candidates

const DJANGO_MANAGE =
  'import os, sys\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "site.settings")\nfrom django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n'

describe('Python stacks', () => {
  it('Django: manage.py runs on 127.0.0.1:$PORT with the .venv python when there is one', () => {
    write('manage.py', DJANGO_MANAGE)
    expect(found()).toEqual([
      {
        command: 'python3 manage.py runserver 127.0.0.1:$PORT',
        source: 'manage.py (Django, no .venv, and no python3 on PATH imports django)',
      },
    ])
    fakeVenv(path.join(dir, '.venv'))
    expect(found()).toEqual([{command: '.venv/bin/python manage.py runserver 127.0.0.1:$PORT', source: 'manage.py (Django, .venv)'}])
  })

  it('a manage.py that is not Django is not taken for it', () => {
    write('manage.py', 'print("my own task runner")\n')
    expect(found()).toEqual([])
  })

  it('without a .venv, the first python3 on PATH that imports the framework', () => {
    write('manage.py', DJANGO_MANAGE)
    const second = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'stacks-bin2-')))
    try {
      const withDjango = fakePython(second, ['django'])
      env = {PATH: `${bin}${path.delimiter}${second}`}
      expect(found()[0]).toEqual({
        command: `${withDjango} manage.py runserver 127.0.0.1:$PORT`,
        source: `manage.py (Django, ${withDjango}: the first python3 on PATH that imports django)`,
      })
      // First on PATH and able: written as plain python3.
      env = {PATH: `${second}${path.delimiter}${bin}`}
      expect(found()[0]?.command).toBe('python3 manage.py runserver 127.0.0.1:$PORT')
    } finally {
      rmSync(second, {force: true, recursive: true})
    }
  })

  it('asks each python once per module, and none at all for a project with no Python', () => {
    write('manage.py', DJANGO_MANAGE)
    write('app.py', 'from flask import Flask\napp = Flask(__name__)\n')
    write('main.py', 'from fastapi import FastAPI\napp = FastAPI()\n')
    const resolver = new PythonResolver(dir, env)
    resolver.choose('django')
    resolver.choose('django')
    const probes = () => readFileSync(path.join(bin, 'python3.probes'), 'utf8').trim().split('\n')
    expect(probes()).toEqual(['import django'])
    expect(found()).toHaveLength(3)
    expect(probes()).toEqual(['import django', 'import django', 'import flask', 'import uvicorn'])
    rmSync(path.join(bin, 'python3.probes'))
    for (const f of ['manage.py', 'app.py', 'main.py']) rmSync(path.join(dir, f))
    write('package.json', JSON.stringify({scripts: {dev: 'vite'}}))
    found()
    expect(existsSync(path.join(bin, 'python3.probes'))).toBe(false)
  })

  it('start (firstOnly) asks no python once a candidate is found: --command costs no probe', () => {
    write('manage.py', DJANGO_MANAGE)
    const first = discoverCommands({cwd: dir, env, explicit: 'node server.js', firstOnly: true})
    expect(first.candidates.map((c) => c.command)).toEqual(['node server.js'])
    expect(existsSync(path.join(bin, 'python3.probes'))).toBe(false)
    // Nothing given: the stacks are looked at, as --list-commands does.
    expect(discoverCommands({cwd: dir, env, firstOnly: true}).candidates[0]?.source).toMatch(/Django/)
  })

  it('a real python: the one chosen from this machine’s PATH really imports django', () => {
    // Debian's python3-django is importable by /usr/bin/python3 only; pyenv's python3 may come first on PATH.
    write('manage.py', DJANGO_MANAGE)
    const [first] = discoverCommands({cwd: dir, env: process.env}).candidates
    const python = first!.command.split(' ')[0]!
    expect(probeSync(python, ['-c', 'import django'], {cwd: dir, timeoutMs: 10_000})).toBe(true)
  })

  it.each([
    [
      {'app.py': 'from flask import Flask\napp = Flask(__name__)\n'},
      'python3 -m flask run --host 127.0.0.1 --port $PORT',
      'app.py imports flask (Flask',
    ],
    [
      {'wsgi.py': 'import flask\napp = flask.Flask(__name__)\n'},
      'python3 -m flask run --host 127.0.0.1 --port $PORT',
      'wsgi.py imports flask (Flask',
    ],
    [
      {'app/__init__.py': 'from flask import Flask\n'},
      'python3 -m flask run --host 127.0.0.1 --port $PORT',
      'app/__init__.py imports flask (Flask',
    ],
    [
      {'.flaskenv': 'FLASK_APP=hello:create_app()\nFLASK_DEBUG=1\n'},
      "FLASK_APP='hello:create_app()' python3 -m flask run --host 127.0.0.1 --port $PORT",
      'FLASK_APP in .flaskenv (Flask',
    ],
    [
      {'.env': 'export FLASK_APP="site.py"\n'},
      'FLASK_APP=site.py python3 -m flask run --host 127.0.0.1 --port $PORT',
      'FLASK_APP in .env (Flask',
    ],
    [
      {'requirements.txt': 'Flask==3.0.0\n', 'hello.py': 'from flask import Flask\n'},
      'FLASK_APP=hello python3 -m flask run --host 127.0.0.1 --port $PORT',
      'requirements.txt names flask; hello.py imports it (Flask',
    ],
    [
      {'pyproject.toml': '[project]\ndependencies = ["flask>=3"]\n'},
      'python3 -m flask run --host 127.0.0.1 --port $PORT',
      'pyproject.toml names flask (Flask',
    ],
  ])('Flask from %j', (files, command, source) => {
    fakePython(bin, ['flask'])
    for (const [f, t] of Object.entries(files)) write(f, t)
    const [first] = found()
    expect(first?.command).toBe(command)
    expect(first?.source).toBe(`${source}, python3 on PATH)`)
  })

  it('Flask with no python that imports it falls back to the flask command on PATH', () => {
    write('app.py', 'from flask import Flask\n')
    expect(found()[0]?.command).toBe('flask run --host 127.0.0.1 --port $PORT')
  })

  it('requirements naming flask-login, not flask, is not Flask', () => {
    write('requirements.txt', 'flask-login==0.6\nflask_wtf\n')
    expect(found()).toEqual([])
    expect(namesDistribution('Flask[async] >= 2.0 ; python_version > "3.8"\n', 'flask')).toBe(true)
    expect(namesDistribution('[tool.poetry.dependencies]\nflask = "^3.0"\n', 'flask')).toBe(true)
    expect(namesDistribution('dependencies = ["flask-cors"]\n', 'flask')).toBe(false)
  })

  it.each([
    ['main.py', 'from fastapi import FastAPI\n\napp = FastAPI()\n', 'uvicorn main:app --host 127.0.0.1 --port $PORT'],
    ['app.py', 'import fastapi\napi: fastapi.FastAPI = fastapi.FastAPI(title="x")\n', 'uvicorn app:api --host 127.0.0.1 --port $PORT'],
    ['app/main.py', 'from fastapi import FastAPI, Request\nserver = FastAPI()\n', 'uvicorn app.main:server --host 127.0.0.1 --port $PORT'],
  ])('FastAPI in %s', (file, text, command) => {
    write(file, text)
    expect(found()).toEqual([{command, source: `${file} imports fastapi (FastAPI, no .venv, and no python3 on PATH imports uvicorn)`}])
    fakeVenv(path.join(dir, '.venv'))
    expect(found()[0]?.command).toBe(`.venv/bin/python -m ${command}`)
  })

  it('Flask named only by requirements ranks below a FastAPI app found by its import', () => {
    write('requirements.txt', 'flask\nfastapi\n')
    write('main.py', 'from fastapi import FastAPI\napp = FastAPI()\n')
    expect(found().map((c) => c.source.split(',')[0])).toEqual(['main.py imports fastapi (FastAPI', 'requirements.txt names flask (Flask'])
  })
})

describe('virtualenv of a worktree', () => {
  it('a linked worktree (as preview makes under .sdd/worktrees) uses the main checkout’s .venv', () => {
    git(dir, 'init', '-q', '-b', 'main')
    write('app/manage.py', DJANGO_MANAGE)
    write('.gitignore', '.venv/\n.sdd/\n')
    git(dir, 'add', '-A')
    git(dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'init')
    const wt = path.join(dir, '.sdd', 'worktrees', 'ws-1')
    git(dir, 'worktree', 'add', '-q', '--detach', wt)
    expect(findVirtualenv(path.join(wt, 'app'))).toBeNull()
    fakeVenv(path.join(dir, '.venv'))
    expect(findVirtualenv(path.join(wt, 'app'))).toEqual({mainCheckout: true, venv: path.join(dir, '.venv')})
    const [first] = discoverCommands({cwd: path.join(wt, 'app'), env}).candidates
    expect(first).toEqual({
      command: `${path.join(dir, '.venv', 'bin', 'python')} manage.py runserver 127.0.0.1:$PORT`,
      source: `manage.py (Django, ${path.join(dir, '.venv')} of the main checkout)`,
    })
    // The nearer one wins: a .venv of the monorepo package itself, in the main checkout.
    fakeVenv(path.join(dir, 'app', 'venv'))
    expect(findVirtualenv(path.join(wt, 'app'))).toEqual({mainCheckout: true, venv: path.join(dir, 'app', 'venv')})
    // And one made inside the worktree beats the main checkout's.
    fakeVenv(path.join(wt, '.venv'))
    expect(findVirtualenv(path.join(wt, 'app'))).toEqual({mainCheckout: false, venv: path.join(wt, '.venv')})
  })

  it('a directory named .venv without pyvenv.cfg is not a virtualenv', () => {
    mkdirSync(path.join(dir, '.venv', 'bin'), {recursive: true})
    writeFileSync(path.join(dir, '.venv', 'bin', 'python'), '')
    expect(findVirtualenv(dir)).toBeNull()
  })
})

describe('Rails, Go, Deno', () => {
  it('Rails: bin/rails, else a Gemfile with rails and a config.ru', () => {
    write('Gemfile', 'source "https://rubygems.org"\ngem "rails", "~> 7.1"\n')
    expect(found()).toEqual([])
    write('config.ru', 'run Rails.application\n')
    expect(found()).toEqual([
      {command: 'bundle exec rails server -b 127.0.0.1 -p $PORT', source: 'Gemfile gem "rails", no bin/rails (Rails)'},
    ])
    write('bin/rails', '#!/usr/bin/env ruby\n')
    expect(found()).toEqual([{command: 'bin/rails server -b 127.0.0.1 -p $PORT', source: 'bin/rails (Rails)'}])
  })

  it('Go: go run . for a main package at the top, else each cmd/<name>', () => {
    write('go.mod', 'module example.com/app\n\ngo 1.22\n')
    write('lib.go', 'package app\n')
    write('main_test.go', 'package main\n')
    expect(found()).toEqual([])
    write('cmd/web/main.go', '// Command web.\npackage main\n\nfunc main() {}\n')
    write('cmd/worker/main.go', 'package main\n')
    write('cmd/shared/util.go', 'package shared\n')
    expect(found().map((c) => c.command)).toEqual(['go run ./cmd/web', 'go run ./cmd/worker'])
    write('main.go', 'package main\n\nfunc main() {}\n')
    expect(found()).toEqual([{command: 'go run .', source: 'go.mod, package main in . (Go)'}])
  })

  it('Deno: deno task dev, then start, from deno.json or deno.jsonc', () => {
    write(
      'deno.jsonc',
      '{\n  // dev server\n  "tasks": {\n    "dev": "deno run -A --watch main.ts", /* watch */\n    "start": {"command": "deno run -A main.ts", "description": "serve"},\n  },\n}\n',
    )
    expect(found()).toEqual([
      {command: 'deno task dev', source: 'deno.jsonc tasks.dev (Deno)'},
      {command: 'deno task start', source: 'deno.jsonc tasks.start (Deno)'},
    ])
    write('deno.json', '{"tasks": {"build": "deno run build.ts"}}')
    expect(found()).toEqual([])
  })

  it('stripJsonc leaves comment-like text inside strings alone', () => {
    expect(JSON.parse(stripJsonc('{"a": "http://x/*y*/", /* c */ "b": "q\\"//",}'))).toEqual({a: 'http://x/*y*/', b: 'q"//'})
  })
})

describe('static site and precedence', () => {
  it('an index.html and nothing runnable: the package’s sirv server, by absolute path', () => {
    write('index.html', '<h1>hi</h1>')
    const [site, ...rest] = found()
    expect(rest).toEqual([])
    expect(site?.source).toBe('index.html, nothing else to run (static site, served by sirv)')
    expect(site?.command).toBe(`${shellQuote(process.execPath)} ${shellQuote(STATIC_SERVER_SCRIPT)}`)
    expect(path.isAbsolute(STATIC_SERVER_SCRIPT)).toBe(true)
    expect(STATIC_SERVER_SCRIPT).toMatch(/[/\\]core[/\\]discovery[/\\]static-server\.js$/)
  })

  it('an index.html beside something runnable is not a static site', () => {
    write('index.html', '<script type="module" src="/main.js"></script>')
    write('package.json', JSON.stringify({scripts: {dev: 'vite'}}))
    expect(found().map((c) => c.command)).toEqual(['npm run dev'])
  })

  it('--command and preview.yaml stay first; package.json and Procfile before the other stacks', () => {
    write('package.json', JSON.stringify({scripts: {dev: 'vite'}}))
    write('Procfile', 'web: gunicorn app:app\n')
    write('manage.py', DJANGO_MANAGE)
    write('go.mod', 'module x\n')
    write('main.go', 'package main\n')
    write('index.html', '')
    const all = discoverCommands({configCommand: 'make serve', cwd: dir, env, explicit: 'echo hi'}).candidates
    expect(all.map((c) => c.command)).toEqual([
      'echo hi',
      'make serve',
      'npm run dev',
      'gunicorn app:app',
      'python3 manage.py runserver 127.0.0.1:$PORT',
      'go run .',
    ])
  })

  it('shellQuote quotes only what sh would split or expand', () => {
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node')
    expect(shellQuote("/opt/my app/it's")).toBe(`'/opt/my app/it'\\''s'`)
  })
})
