// Discovery beyond Node as a user meets it: `preview start` in a real Flask app, a real Django project and a
// plain HTML site (each in a temp git repo, started in preview's own worktree, fetched through the gateway with
// the link's token, stopped with nothing left), and `--list-commands --json` on FastAPI, Rails, Go and Deno trees.
import {execFileSync} from 'node:child_process'
import {chmodSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, runCli} from '../helpers/cli.js'
import {pidsInside, portOpen, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

/** Debian's python3 (python3-flask, python3-django); pyenv's python3 first on PATH may have neither. */
const SYSTEM_PYTHON = '/usr/bin/python3'

interface StartedRow {
  preview_id: string
  command: string
  cwd: string
  port: number
  gateway_port: number
  public_url: string
  share_url: string
  supervisor_pid: number
}

/** Starts a preview (local provider, token link) and returns its row; fails with the CLI's stderr. */
async function start(repo: TempRepo): Promise<StartedRow> {
  const res = await runCli(['start', '--provider', 'local', '--json'], {cwd: repo.dir, timeoutMs: 90_000})
  expect(res.code, res.stderr + res.stdout).toBe(0)
  return json<StartedRow>(res)
}

/** GET through the gateway: with the link's token as a bearer token, or without (refused). */
async function get(row: StartedRow, pathname: string, withToken = true): Promise<{status: number; body: string}> {
  const token = new URL(row.share_url).searchParams.get('token')!
  const res = await fetch(new URL(pathname, row.public_url), {headers: withToken ? {authorization: `Bearer ${token}`} : {}})
  return {body: await res.text(), status: res.status}
}

/** `preview stop`, then: no process in the worktree, dev server and gateway ports closed, no row. */
async function stopAndCheck(repo: TempRepo, row: StartedRow): Promise<void> {
  const stop = await runCli(['stop', row.preview_id], {cwd: repo.dir})
  expect(stop.code, stop.stderr).toBe(0)
  expect(await waitFor(() => pidsInside(row.cwd).length === 0, 10_000)).toBe(true)
  expect(await portOpen(row.port)).toBe(false)
  expect(await portOpen(row.gateway_port)).toBe(false)
  expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
}

describe('a real Flask app', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo({
      files: {
        '.gitignore': '.venv/\n',
        'app.py': [
          'from flask import Flask, request',
          '',
          'app = Flask(__name__)',
          '',
          '',
          '@app.get("/")',
          'def index():',
          '    return f"hello from flask, host {request.host}"',
          '',
        ].join('\n'),
        'requirements.txt': 'flask\n',
      },
    })
    // The developer's virtualenv, in the main checkout and gitignored: what a real user has (system packages in
    // it, so no download). The preview runs in a worktree, where there is no .venv.
    execFileSync(SYSTEM_PYTHON, ['-m', 'venv', '--without-pip', '--system-site-packages', '.venv'], {cwd: repo.dir})
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('runs flask from the main checkout’s .venv on 127.0.0.1:$PORT, serves through the link, and stops clean', async () => {
    const list = json(await runCli(['start', '--list-commands', '--json'], {cwd: repo.dir}))
    expect(list.candidates[0]).toEqual({
      command: '.venv/bin/python -m flask run --host 127.0.0.1 --port $PORT',
      source: 'app.py imports flask (Flask, .venv)',
    })

    const row = await start(repo)
    expect(path.dirname(row.cwd)).toBe(path.join(repo.dir, '.sdd', 'worktrees'))
    expect(row.command).toBe(`${path.join(repo.dir, '.venv', 'bin', 'python')} -m flask run --host 127.0.0.1 --port $PORT`)
    expect((await get(row, '/', false)).status).toBe(401)
    const page = await get(row, '/')
    expect(page.status).toBe(200)
    expect(page.body).toBe(`hello from flask, host localhost:${row.port}`)
    await stopAndCheck(repo, row)
  })
})

describe('a real Django project', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo({
      files: {
        'manage.py': [
          'import os',
          'import sys',
          '',
          'if __name__ == "__main__":',
          '    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")',
          '    from django.core.management import execute_from_command_line',
          '',
          '    execute_from_command_line(sys.argv)',
          '',
        ].join('\n'),
        'settings.py':
          'SECRET_KEY = "test-only-not-secret"\nDEBUG = True\nALLOWED_HOSTS = []\nROOT_URLCONF = "urls"\nINSTALLED_APPS = []\nDATABASES = {}\n',
        'urls.py': [
          'from django.http import HttpResponse',
          'from django.urls import path',
          '',
          '',
          'def index(request):',
          '    return HttpResponse("hello from django, host " + request.get_host())',
          '',
          '',
          'urlpatterns = [path("", index)]',
          '',
        ].join('\n'),
      },
    })
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('without a .venv runs manage.py with a python3 on PATH that imports django, and stops clean (autoreloader included)', async () => {
    const row = await start(repo)
    expect(row.command).toMatch(/^(python3|\/\S+\/python3) manage\.py runserver 127\.0\.0\.1:\$PORT$/)
    const python = row.command.split(' ')[0]!
    // The python chosen really has Django (on this machine, /usr/bin/python3 rather than pyenv's python3).
    expect(() => execFileSync(python, ['-c', 'import django'], {stdio: 'ignore'})).not.toThrow()
    const page = await get(row, '/')
    expect(page.status).toBe(200)
    expect(page.body).toBe(`hello from django, host localhost:${row.port}`)
    // runserver's autoreloader runs the server in a child python: both live in the worktree until stop.
    expect(pidsInside(row.cwd).length).toBeGreaterThanOrEqual(2)
    await stopAndCheck(repo, row)
  })
})

describe('a static site', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo({
      files: {
        '.env': 'SECRET_TOKEN=do-not-serve\n',
        'about/index.html': '<h1>About</h1>\n',
        'index.html': '<!doctype html><title>Site</title><link rel="stylesheet" href="style.css"><h1>Hello, static</h1>\n',
        'style.css': 'h1 { color: teal }\n',
      },
    })
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('is served by the packaged sirv server from the worktree, hides dotfiles, and stops clean', async () => {
    const row = await start(repo)
    expect(row.command).toMatch(/ \/\S+\/dist\/core\/discovery\/static-server\.js$/)
    expect(row.cwd).toContain(path.join('.sdd', 'worktrees'))
    const home = await get(row, '/')
    expect(home).toEqual({
      body: '<!doctype html><title>Site</title><link rel="stylesheet" href="style.css"><h1>Hello, static</h1>\n',
      status: 200,
    })
    expect(await get(row, '/style.css')).toEqual({body: 'h1 { color: teal }\n', status: 200})
    expect(await get(row, '/about/')).toEqual({body: '<h1>About</h1>\n', status: 200})
    for (const hidden of ['/.env', '/.git/HEAD', '/.git/config']) {
      const res = await get(row, hidden)
      expect(res.status, hidden).toBe(404)
      expect(res.body).not.toContain('do-not-serve')
    }

    expect((await get(row, '/missing.html')).status).toBe(404)
    await stopAndCheck(repo, row)
  })

  it('with --cwd . (the checkout itself, .sdd/ inside it) preview’s own keys and state are not served', async () => {
    const res = await runCli(['start', '--provider', 'local', '--cwd', '.', '--json'], {cwd: repo.dir, timeoutMs: 90_000})
    expect(res.code, res.stderr).toBe(0)
    const row = json<StartedRow>(res)
    expect(row.cwd).toBe(repo.dir)
    expect((await get(row, '/')).status).toBe(200)
    for (const hidden of [
      '/.sdd/runtime/preview/jwt.key',
      '/.sdd/runtime/preview/state.json',
      '/.sdd/audit/.key',
      '/%2Esdd/audit/preview.jsonl',
    ]) {
      expect((await get(row, hidden)).status, hidden).toBe(404)
    }

    await stopAndCheck(repo, row)
  })
})

describe('--list-commands --json on FastAPI, Rails, Go and Deno trees', () => {
  let bin: string
  beforeAll(() => {
    // A PATH with git and one python3 that imports nothing, so the answer does not depend on this machine.
    bin = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'preview-bin-')))
    symlinkSync(execFileSync('sh', ['-c', 'command -v git'], {encoding: 'utf8'}).trim(), path.join(bin, 'git'))
    writeFileSync(path.join(bin, 'python3'), '#!/bin/sh\nexit 1\n')
    chmodSync(path.join(bin, 'python3'), 0o755)
  })
  afterAll(() => rmSync(bin, {force: true, recursive: true}))

  it.each([
    [
      'FastAPI',
      {
        'main.py': 'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get("/")\ndef root():\n    return {"ok": True}\n',
        'requirements.txt': 'fastapi\nuvicorn[standard]\n',
      },
      [
        {
          command: 'uvicorn main:app --host 127.0.0.1 --port $PORT',
          source: 'main.py imports fastapi (FastAPI, no .venv, and no python3 on PATH imports uvicorn)',
        },
      ],
    ],
    [
      'Rails',
      {
        Gemfile: 'source "https://rubygems.org"\ngem "rails", "~> 7.1"\ngem "puma"\n',
        'bin/rails': '#!/usr/bin/env ruby\nAPP_PATH = File.expand_path("../config/application", __dir__)\n',
        'config.ru': 'run Rails.application\n',
      },
      [{command: 'bin/rails server -b 127.0.0.1 -p $PORT', source: 'bin/rails (Rails)'}],
    ],
    [
      'Go',
      {
        'go.mod': 'module example.com/hello\n\ngo 1.22\n',
        'main.go':
          'package main\n\nimport (\n\t"net/http"\n\t"os"\n)\n\nfunc main() {\n\thttp.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)\n}\n',
      },
      [{command: 'go run .', source: 'go.mod, package main in . (Go)'}],
    ],
    [
      'Deno',
      {
        'deno.json': '{\n  "tasks": {\n    "dev": "deno run --allow-net --allow-env --watch main.ts"\n  }\n}\n',
        'main.ts': 'Deno.serve({hostname: "127.0.0.1", port: Number(Deno.env.get("PORT"))}, () => new Response("hi"))\n',
      },
      [{command: 'deno task dev', source: 'deno.json tasks.dev (Deno)'}],
    ],
  ])('%s', async (_name, files, candidates) => {
    const repo = makeRepo({files})
    try {
      const res = await runCli(['start', '--list-commands', '--json'], {cwd: repo.dir, env: {PATH: bin}})
      expect(res.code, res.stderr).toBe(0)
      const out = json(res)
      expect(out.candidates).toEqual(candidates)
      expect(out.cwd).toBe(repo.dir)
      const human = await runCli(['start', '--list-commands'], {cwd: repo.dir, env: {PATH: bin}})
      expect(human.stdout).toBe(`1. ${candidates[0]!.command}    (${candidates[0]!.source})\n`)
    } finally {
      repo.cleanup()
    }
  })

  it('preview.yaml `command` stays first, above what the tree offers', async () => {
    const repo = makeRepo({
      files: {
        '.sdd/preview.yaml': 'command: make serve\n',
        'go.mod': 'module x\n',
        'main.go': 'package main\n',
        'index.html': '<h1>x</h1>',
      },
    })
    try {
      const out = json(await runCli(['start', '--list-commands', '--json'], {cwd: repo.dir, env: {PATH: bin}}))
      expect(out.candidates).toEqual([
        {command: 'make serve', source: '.sdd/preview.yaml command'},
        {command: 'go run .', source: 'go.mod, package main in . (Go)'},
      ])
    } finally {
      repo.cleanup()
    }
  })
})
