import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {DiscoveryFailed} from '../../src/core/errors.js'
import {chooseCommand, discoverCommands, parseProcfile} from '../../src/core/discovery/commands.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'discovery-'))
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

const pkg = (scripts: Record<string, string>) => writeFileSync(path.join(dir, 'package.json'), JSON.stringify({scripts}))

describe('discoverCommands', () => {
  it('orders --command, config, scripts.dev, scripts.start, Procfile', () => {
    pkg({dev: 'vite', start: 'node server.js'})
    writeFileSync(path.join(dir, 'Procfile'), 'worker: node worker.js\nweb: node web.js\n')
    const found = discoverCommands({configCommand: 'make serve', cwd: dir, explicit: 'echo hi'})
    expect(found.candidates.map((c) => c.command)).toEqual(['echo hi', 'make serve', 'npm run dev', 'npm run start', 'node web.js'])
    expect(found.candidates.map((c) => c.source)).toEqual([
      '--command',
      '.sdd/preview.yaml command',
      'package.json scripts.dev (npm, no lockfile)',
      'package.json scripts.start (npm, no lockfile)',
      'Procfile web:',
    ])
    expect(chooseCommand(found).command).toBe('echo hi')
  })

  it.each([
    ['pnpm-lock.yaml', 'pnpm run dev'],
    ['yarn.lock', 'yarn dev'],
    ['bun.lockb', 'bun run dev'],
    ['bun.lock', 'bun run dev'],
    ['package-lock.json', 'npm run dev'],
  ])('with %s runs %s', (lockfile, command) => {
    pkg({dev: 'vite'})
    writeFileSync(path.join(dir, lockfile), '')
    const [first] = discoverCommands({cwd: dir}).candidates
    expect(first?.command).toBe(command)
    expect(first?.source).toContain(lockfile)
  })

  it('takes the first Procfile process when there is no web:', () => {
    writeFileSync(path.join(dir, 'Procfile'), '# comment\napi: ./bin/api --port $PORT\nworker: ./bin/worker\n')
    expect(discoverCommands({cwd: dir}).candidates).toEqual([{command: './bin/api --port $PORT', source: 'Procfile api:'}])
  })

  it('shows .tool-versions as runtime hints', () => {
    writeFileSync(path.join(dir, '.tool-versions'), 'nodejs 20.11.0\n# comment\npython 3.12.1\n')
    expect(discoverCommands({cwd: dir}).runtimeHints).toEqual(['nodejs 20.11.0', 'python 3.12.1'])
  })

  it('nothing found: DiscoveryFailed (exit 2) naming what was searched', () => {
    pkg({build: 'tsc'})
    const found = discoverCommands({cwd: dir})
    expect(() => chooseCommand(found)).toThrow(DiscoveryFailed)
    try {
      chooseCommand(found)
    } catch (error) {
      expect((error as DiscoveryFailed).exitCode).toBe(2)
      expect((error as Error).message).toMatch(/preview\.yaml.*package\.json.*Procfile/)
    }
  })

  it('parses Procfile lines', () => {
    expect(parseProcfile('web: bundle exec puma -p $PORT\r\nrelease: rake db:migrate')).toEqual([
      {command: 'bundle exec puma -p $PORT', name: 'web'},
      {command: 'rake db:migrate', name: 'release'},
    ])
  })
})
