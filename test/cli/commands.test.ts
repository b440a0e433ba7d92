// Commands in-process: flags to core call to rendering, without a process per call.
import {writeFileSync, mkdirSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runInProcess} from '../helpers/in-process.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

describe('commands in-process', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node server.js --from-config\n')
    writeFileSync(path.join(repo.dir, 'Procfile'), 'web: node server.js --procfile\n')
    writeFileSync(path.join(repo.dir, '.tool-versions'), 'nodejs 20.20.2\n')
  })
  afterAll(() => repo.cleanup())

  it('start --list-commands prints every candidate in order with its source and starts nothing', async () => {
    const res = await runInProcess(['start', '--list-commands', '--cwd', '.', '--command', 'echo explicit'], repo.dir)
    expect(res.error).toBeUndefined()
    expect(res.stdout.trim().split('\n')).toEqual([
      '1. echo explicit    (--command)',
      '2. node server.js --from-config    (.sdd/preview.yaml command)',
      '3. npm run dev    (package.json scripts.dev (npm, no lockfile))',
      "   runs: direct (the script line with npm's environment, without starting npm)",
      '4. node server.js --procfile    (Procfile web:)',
      'runtime: nodejs 20.20.2    (.tool-versions)',
    ])
    const list = await runInProcess(['list', '--json'], repo.dir)
    expect(JSON.parse(list.stdout)).toEqual([])
  })

  it('list on an empty registry says how to start one; --json is an empty array', async () => {
    expect((await runInProcess(['list'], repo.dir)).stdout).toContain('No previews. Start one with `preview start`.')
    expect(JSON.parse((await runInProcess(['list', '--json'], repo.dir)).stdout)).toEqual([])
  })

  it('status of an unknown id is exit 2 with advice; --json errors are JSON', async () => {
    const res = await runInProcess(['status', 'p-deadbeef'], repo.dir)
    expect(res.error?.oclif?.exit).toBe(2)
    expect(res.stderr).toContain('Error: No preview with id p-deadbeef.')
    expect(res.stderr).toContain('preview list')
    const asJson = await runInProcess(['status', 'p-deadbeef', '--json'], repo.dir)
    expect(JSON.parse(asJson.stdout)).toMatchObject({error: {code: 'PREVIEW_NOT_FOUND'}})
  })

  it('stop with neither ids nor --all, and no preview running, is exit 2 saying so', async () => {
    const res = await runInProcess(['stop'], repo.dir)
    expect(res.error?.oclif?.exit).toBe(2)
    expect(res.stderr).toMatch(/No preview is running in this repository/)
    expect(res.stderr).toContain('preview stop <id>')
  })
})
