// preview requests: the inspector. What the gateway handled, as it happened; never a token or a body.
import {spawn} from 'node:child_process'
import Ajv2020 from 'ajv/dist/2020.js'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {BIN, json, ROOT, runCli} from '../helpers/cli.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const schema = JSON.parse(readFileSync(path.join(ROOT, 'docs', 'json', 'request.json'), 'utf8')) as object
const validate = new Ajv2020.default({strict: true}).compile(schema)
const ndjson = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>)

describe('preview requests', () => {
  let repo: TempRepo
  let row: Record<string, any>
  beforeAll(async () => {
    repo = makeRepo()
    const start = await runCli(['start', '--provider', 'local', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    row = json(start)
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('lists what the gateway handled, refusals with their reason, paths without the token; --follow streams until stop', async () => {
    expect((await fetch(new URL('/secret-page', row.public_url))).status).toBe(401)
    expect((await fetch(row.share_url, {redirect: 'manual'})).status).toBe(302)
    expect((await fetch(new URL('/page?x=1', row.public_url), {headers: {authorization: `Bearer ${row.token}`}})).status).toBe(200)
    // Records are written in batches (every 250 ms): wait for ours.
    let records: Record<string, any>[] = []
    for (let i = 0; i < 40 && records.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 100))
      records = ndjson((await runCli(['requests', '--json'], {cwd: repo.dir})).stdout)
    }

    for (const r of records) expect(validate(r), JSON.stringify(validate.errors)).toBe(true)
    expect(records.map((r) => [r.method, r.path, r.status, r.refusal ?? null])).toEqual([
      ['GET', '/secret-page', 401, 'missing'],
      ['GET', '/', 302, null],
      ['GET', '/page?x=1', 200, null],
    ])
    const everything = JSON.stringify(records) + (await runCli(['requests'], {cwd: repo.dir})).stdout
    expect(everything).not.toContain(row.token)
    expect((await runCli(['requests'], {cwd: repo.dir})).stdout).toMatch(/GET\s+401 .*\/secret-page\s+refused: missing/)

    // --follow: a new request shows up; the stream ends by itself when the preview stops.
    const follower = spawn(process.execPath, [BIN, 'requests', '--follow', '--json'], {cwd: repo.dir, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    follower.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const ended = new Promise<number | null>((resolve) => follower.on('exit', resolve))
    await new Promise((r) => setTimeout(r, 500))
    await fetch(new URL('/later', row.public_url), {headers: {authorization: `Bearer ${row.token}`}})
    for (let i = 0; i < 40 && !out.includes('/later'); i++) await new Promise((r) => setTimeout(r, 100))
    expect(out).toContain('"/later"')
    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
    const code = await Promise.race([ended, new Promise((r) => setTimeout(() => r('still running'), 10_000))])
    follower.kill()
    expect(code).toBe(0)
  })
})
