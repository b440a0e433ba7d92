// The written contract (docs/json/): real outputs of every command, run as a process without a TTY, validated
// against the schemas, errors included.
import {appendFileSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {Ajv2020} from 'ajv/dist/2020.js'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {json, ndjson, ROOT, runCli, type CliResult} from '../helpers/cli.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const SCHEMA_DIR = path.join(ROOT, 'docs', 'json')
const ajv = new Ajv2020({allErrors: true, allowUnionTypes: true, strict: true, strictRequired: false})
for (const file of readdirSync(SCHEMA_DIR)) ajv.addSchema(JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8')))

/** Asserts a document matches docs/json/<schema>, showing ajv's errors and the document when it does not. */
function expectSchema(schema: string, doc: unknown): void {
  const validate = ajv.getSchema(schema)
  if (!validate) throw new Error(`no schema ${schema}`)
  const ok = validate(doc)
  expect(ok, `${schema}: ${JSON.stringify(validate.errors, null, 2)}\n${JSON.stringify(doc, null, 2).slice(0, 2000)}`).toBe(true)
}

/** A bad-input error with --json: exit 2, nothing but one small envelope on stdout. */
function expectBadInput(res: CliResult, code: string): Record<string, any> {
  expect(res.code, res.stdout + res.stderr).toBe(2)
  expect(Buffer.byteLength(res.stdout)).toBeLessThan(4096)
  const doc = json(res)
  expectSchema('error.json', doc)
  expect(doc.error.code).toBe(code)
  expect(doc.error.exit_code).toBe(2)
  expect(doc.error.hint).toEqual(expect.any(String))
  return doc.error
}

describe('the JSON contract (docs/json)', () => {
  let repo: TempRepo
  const cli = (...args: string[]) => runCli(args, {cwd: repo.dir})
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('every schema compiles (strict) and marks the old names deprecated next to their snake_case twins', () => {
    for (const file of readdirSync(SCHEMA_DIR)) expect(ajv.getSchema(file), file).toBeTypeOf('function')
    const props = (f: string) => JSON.parse(readFileSync(path.join(SCHEMA_DIR, f), 'utf8')).properties
    expect(props('share.json').url.deprecated).toBe(true)
    expect(props('logs.json').file.deprecated).toBe(true)
    expect(props('restart.json').restarted_at_ms.deprecated).toBe(true)
    expect(props('list-commands.json').runtimeHints.deprecated).toBe(true)
    expect(props('list-commands.json').packageManager.deprecated).toBe(true)
  })

  it('errors are one small envelope with exit 2, from flags, arguments, unknown commands and both start paths', async () => {
    // The two: no id and no preview; an unknown flag (was a ~62 KB dump of oclif's config, exit 1).
    expect(expectBadInput(await cli('status', '--json'), 'NO_RUNNING_PREVIEW').message).toMatch(/No preview is running/)
    expect(expectBadInput(await cli('list', '--bogus', '--json'), 'INVALID_INPUT')).toMatchObject({reason: 'unknown-flag'})
    expect(expectBadInput(await cli('list', '--show-secret', '--json'), 'INVALID_INPUT').hint).toContain('Did you mean --show-secrets?')
    expect(expectBadInput(await cli('stat', '--json'), 'UNKNOWN_COMMAND').hint).toContain('preview status')
    expectBadInput(await cli('status', 'p-00000000', '--json'), 'PREVIEW_NOT_FOUND')
    expect(expectBadInput(await cli('share', '--expire', '--json'), 'INVALID_INPUT').message).toMatch(/--expire/)
    expectBadInput(await cli('logs', '--json'), 'NO_RUNNING_PREVIEW')
    expectBadInput(await cli('events', '--json'), 'NO_RUNNING_PREVIEW')
    expectBadInput(await cli('events', 'p-00000000', '--json'), 'PREVIEW_NOT_FOUND')
    expectBadInput(await cli('restart', '--json'), 'NO_RUNNING_PREVIEW')
    expectBadInput(await cli('stop', '--json'), 'NO_RUNNING_PREVIEW')
    expectBadInput(await cli('start', '--auth', 'bogus', '--json'), 'INVALID_INPUT') // the fast path
    expectBadInput(await cli('start', '--bogus', '--json'), 'INVALID_INPUT') // handed to oclif
    expectBadInput(await cli('metrics', '--port', '1', '--json'), 'INVALID_INPUT')
    // Without --json: text on stderr, nothing on stdout, the same exit code.
    const human = await cli('list', '--bogus')
    expect(human.code).toBe(2)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain('Nonexistent flag: --bogus')
    const unknown = await cli('stat')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('Did you mean `preview status`?')
    // `preview help <command>`, the advice plugin-not-found gives, works.
    const help = await cli('help', 'status')
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toContain('$ preview status [ID]')
  })

  it('start, list, status, share, revoke, logs, restart, events, metrics, audit verify, cleanup and stop match their schemas', async () => {
    const commands = json(await cli('start', '--list-commands', '--json'))
    expectSchema('list-commands.json', commands)
    expect(commands.runtime_hints).toEqual(commands.runtimeHints)
    expect(commands.package_manager).toBe('npm')

    const start = await cli('start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--json')
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expectSchema('start.json', row)
    expect(row.token).toBe(new URL(row.share_url).searchParams.get('token'))
    const id: string = row.preview_id

    expectSchema('list.json', json(await cli('list', '--json')))
    const status = json(await cli('status', '--json')) // no id: the only running preview
    expectSchema('status.json', status)
    expect(status.preview_id).toBe(id)

    const share = json(await cli('share', '--json'))
    expectSchema('share.json', share)
    expect(share).toMatchObject({preview_id: id, share_url: share.url})
    expect(share.token).toBe(new URL(share.share_url).searchParams.get('token'))
    const revoke = json(await cli('revoke', id, '--link', share.jti, '--json'))
    expectSchema('revoke.json', revoke)

    const logs = json(await cli('logs', '--json', '--lines', '5'))
    expectSchema('logs.json', logs)
    expect(logs.log_file).toBe(logs.file)

    const restart = await cli('restart', '--json')
    expect(restart.code, restart.stderr).toBe(0)
    const restarted = json(restart)
    expectSchema('restart.json', restarted)
    expect(restarted.restarted_at_epoch).toBe(Math.floor(restarted.restarted_at_ms / 1000))

    const events = ndjson((await cli('events', '--json')).stdout)
    for (const e of events) expectSchema('event.json', e)
    expect(events.map((e) => e.event)).toEqual(['start', 'ready', 'link', 'revoke', 'restart'])

    const metrics = json(await cli('metrics', '--json'))
    expectSchema('metrics.json', metrics)
    const started = metrics.metrics.find((m: {name: string}) => m.name === 'preview_started_total')
    expect(started.values).toEqual([{labels: {auth_mode: 'token', provider: 'local'}, value: 1}])

    expectSchema('audit-verify.json', json(await cli('audit', 'verify', '--json')))
    expectSchema('cleanup.json', json(await cli('cleanup', '--dry-run', '--json')))

    // Two running: the default is refused, naming both.
    const second = json(await cli('start', '--provider', 'local', '--cwd', '.', '--command', 'node server.js', '--json'))
    const ambiguous = expectBadInput(await cli('status', '--json'), 'AMBIGUOUS_PREVIEW')
    expect(ambiguous.message).toContain(id)
    expect(ambiguous.message).toContain(second.preview_id)

    const stop = json(await cli('stop', '--all', '--json'))
    expectSchema('stop.json', stop)
    expect(stop.map((s: {preview_id: string}) => s.preview_id).sort()).toEqual([id, second.preview_id].sort())

    // A broken chain: still the verify document, with the error's body, exit 1.
    const audit = path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl')
    writeFileSync(audit, readFileSync(audit, 'utf8').replace('"event":"link"', '"event":"lnk"'))
    appendFileSync(audit, '')
    const broken = await cli('audit', 'verify', '--json')
    expect(broken.code).toBe(1)
    const verdict = json(broken)
    expectSchema('audit-verify.json', verdict)
    expect(verdict).toMatchObject({error: {code: 'AUDIT_BROKEN', exit_code: 1}, ok: false})
  })
  it('init writes a commented preview.yaml from discovery, refuses to overwrite (exit 2) unless --force', async () => {
    const fresh = makeRepo({files: {Procfile: 'web: node server.js --from-procfile\n', 'server.js': 'x'}})
    try {
      const file = path.join(fresh.dir, '.sdd', 'preview.yaml')
      const first = await runCli(['init', '--json'], {cwd: fresh.dir})
      expect(first.code, first.stderr).toBe(0)
      expectSchema('init.json', json(first))
      const text = readFileSync(file, 'utf8')
      expect(text).toContain('command: "node server.js --from-procfile"')
      expect(text).toMatch(/^# .*Procfile web:/m)
      // The file is what start reads: its command comes first.
      const found = json(await runCli(['start', '--list-commands', '--json'], {cwd: fresh.dir}))
      expect(found.candidates[0]).toEqual({command: 'node server.js --from-procfile', source: '.sdd/preview.yaml command'})

      writeFileSync(file, 'command: mine\n')
      expectBadInput(await runCli(['init', '--json'], {cwd: fresh.dir}), 'CONFIG_EXISTS')
      expect(readFileSync(file, 'utf8')).toBe('command: mine\n') // nothing lost
      const forced = await runCli(['init', '--force'], {cwd: fresh.dir})
      expect(forced.code, forced.stderr).toBe(0)
      expect(forced.stdout).toContain('Replaced')
      expect(readFileSync(file, 'utf8')).toContain('command: "node server.js --from-procfile"')
    } finally {
      fresh.cleanup()
    }
  })
})
