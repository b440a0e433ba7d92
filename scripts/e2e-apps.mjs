#!/usr/bin/env node
// Builds the real apps the browser e2e tests preview (create-vite, webpack-dev-server, create-next-app) once into
// test/.cache/apps/<name>, keyed by a hash of what generates them, and copies one into a fresh git repo per run.
// Usage: node scripts/e2e-apps.mjs [vite|webpack|next ...]   (prebuilds the cache; the tests call ensureApp too)
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const CACHE_DIR = process.env.PREVIEW_E2E_CACHE ?? path.join(ROOT, 'test', '.cache', 'apps')
// Bump when the build procedure below changes in a way the specs do not show.
const BUILDER_VERSION = 1

// webpack-dev-server 6 needs Node >= 22.15; this project supports Node 20, so the newest 5.x it is.
const WEBPACK_APP = {
  '.gitignore': 'node_modules/\ndist/\n',
  'package.json': JSON.stringify(
    {
      name: 'webpack-app',
      private: true,
      scripts: {build: 'webpack', dev: 'webpack serve'},
      devDependencies: {webpack: '5.112.2', 'webpack-cli': '7.3.1', 'webpack-dev-server': '5.2.7'},
    },
    null,
    2,
  ),
  // The webpack guide's development setup; nothing in it knows about previews or tunnels.
  'webpack.config.js': `const path = require('path')

module.exports = {
  mode: 'development',
  entry: './src/index.js',
  devtool: 'inline-source-map',
  devServer: {static: './public'},
  output: {filename: 'main.js', path: path.resolve(__dirname, 'dist'), clean: true},
}
`,
  'public/index.html': `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>webpack app</title></head>
  <body><h1 id="app"></h1><script src="/main.js"></script></body>
</html>
`,
  'src/message.js': `export const message = 'Hello from webpack'\n`,
  'src/index.js': `import {message} from './message.js'

const el = document.getElementById('app')
function render() {
  el.textContent = message
}
render()
// Hot Module Replacement: re-render when message.js changes instead of reloading the page.
if (module.hot) module.hot.accept('./message.js', render)
`,
}

// A Server Action page added to the generated Next.js app: app code, not configuration.
const NEXT_ACTION_FILES = {
  'app/action/actions.ts': `'use server'

export async function shout(_previous: string, formData: FormData): Promise<string> {
  const text = String(formData.get('text') ?? '')
  return \`server says: \${text.toUpperCase()}\`
}
`,
  'app/action/echo.tsx': `'use client'

import {useActionState, useEffect, useState} from 'react'
import {shout} from './actions'

export function Echo() {
  const [reply, action, pending] = useActionState(shout, '')
  const [hydrated, setHydrated] = useState(false)
  useEffect(() => setHydrated(true), [])
  return (
    <form action={action} data-hydrated={hydrated ? 'yes' : 'no'}>
      <input name="text" id="text" defaultValue="" />
      <button type="submit" id="send" disabled={pending}>Send</button>
      <p id="reply">{reply}</p>
    </form>
  )
}
`,
  'app/action/page.tsx': `import {Echo} from './echo'

export default function ActionPage() {
  return (
    <main>
      <h1>Server Action</h1>
      <Echo />
    </main>
  )
}
`,
}

/** The apps: how each is generated. Everything here goes into the cache key. */
export const APPS = {
  next: {
    generate: [
      ['npx', '-y', 'create-next-app@16.4.3', 'app', '--ts', '--app', '--no-tailwind', '--no-src-dir', '--no-react-compiler', '--no-eslint', '--no-biome', '--import-alias', '@/*', '--use-npm', '--skip-install', '--disable-git', '--no-agent-feedback', '--yes'],
    ],
    files: NEXT_ACTION_FILES,
  },
  vite: {
    generate: [['npx', '-y', 'create-vite@9.3.0', 'app', '--template', 'react', '--no-interactive', '--no-immediate']],
    files: {},
  },
  webpack: {generate: [], files: WEBPACK_APP},
}

function appKey(name) {
  const spec = {builder: BUILDER_VERSION, name, node: process.versions.node.split('.')[0], spec: APPS[name]}
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16)
}

function sh(cmd, args, cwd) {
  // npm's progress and warnings go to our stderr; stdout is not needed.
  execFileSync(cmd, args, {cwd, env: {...process.env, CI: '1', NEXT_TELEMETRY_DISABLED: '1'}, stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000})
}

function write(dir, files) {
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }
}

/** Returns the cache dir of an installed app, building it first when its key changed or it is missing. */
export function ensureApp(name) {
  const spec = APPS[name]
  if (!spec) throw new Error(`unknown e2e app "${name}" (known: ${Object.keys(APPS).join(', ')})`)
  const key = appKey(name)
  const dir = path.join(CACHE_DIR, name)
  const keyFile = path.join(dir, '.e2e-key')
  if (existsSync(keyFile) && readFileSync(keyFile, 'utf8').trim() === key) return dir

  mkdirSync(CACHE_DIR, {recursive: true})
  const staging = mkdtempSync(path.join(CACHE_DIR, `.${name}-`))
  try {
    const app = path.join(staging, 'app')
    mkdirSync(app)
    for (const [cmd, ...args] of spec.generate) sh(cmd, args, staging)
    write(app, spec.files)
    sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], app)
    writeFileSync(path.join(app, '.e2e-key'), key + '\n')
    rmSync(dir, {force: true, recursive: true})
    renameSync(app, dir)
  } finally {
    rmSync(staging, {force: true, recursive: true})
  }

  return dir
}

/**
 * Copies a cached app into a fresh temp git repo and commits it (node_modules hard-linked, not committed: the
 * app's own .gitignore excludes it). Returns the repo's real path.
 */
export function makeAppRepo(name) {
  const src = ensureApp(name)
  const base = path.join(os.tmpdir(), 'preview-tests')
  mkdirSync(base, {recursive: true})
  const dir = realpathSync(mkdtempSync(path.join(base, `e2e-${name}-`)))
  for (const entry of readdirSync(src)) {
    if (entry === 'node_modules' || entry === '.e2e-key') continue
    cpSync(path.join(src, entry), path.join(dir, entry), {recursive: true})
  }
  // Hard links: copying Next's node_modules file by file costs seconds; dev servers write new files, not old ones.
  execFileSync('cp', ['-al', path.join(src, 'node_modules'), path.join(dir, 'node_modules')])
  const env = {...process.env, GIT_AUTHOR_EMAIL: 't@example.com', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't'}
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', `${name} app`]]) execFileSync('git', args, {cwd: dir, env, stdio: 'ignore'})
  return dir
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(APPS)
  for (const name of names) {
    const t0 = Date.now()
    const dir = ensureApp(name)
    console.log(`${name}: ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  }
}
