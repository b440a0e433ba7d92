// The commands in-process: `preview audit verify [--json]` and `preview metrics`, exit codes and output.
import {mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import AuditVerify from '../../src/commands/audit/verify.js'
import Metrics from '../../src/commands/metrics.js'
import {appendAudit} from '../../src/core/records/audit.js'
import {PreviewManager} from '../../src/core/preview/manager.js'
import {run} from '../../src/core/process.js'
import {ROOT, tempSdd} from './audit-fixtures.js'

let sdd: ReturnType<typeof tempSdd>
let saved: string | undefined

/** Runs a command class in-process; returns what it wrote to stdout and the exit code oclif would use. */
async function runCommand(
  cmd: {run(argv: string[], root: string): Promise<unknown>},
  argv: string[],
): Promise<{stdout: string; stderr: string; exit: number; error?: Error}> {
  let stdout = ''
  let stderr = ''
  const errSpy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    stderr += args.map(String).join(' ') + '\n'
  })
  // oclif writes stdout through console.log
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    stdout += args.map(String).join(' ') + '\n'
  })
  try {
    await cmd.run(argv, ROOT)
    return {exit: 0, stderr, stdout}
  } catch (error) {
    const exit = (error as {oclif?: {exit?: number}}).oclif?.exit ?? 1
    return {error: error as Error, exit, stderr, stdout}
  } finally {
    spy.mockRestore()
    errSpy.mockRestore()
  }
}

beforeEach(async () => {
  sdd = tempSdd()
  saved = process.env.PREVIEW_SDD_DIR
  process.env.PREVIEW_SDD_DIR = sdd.paths.root
  await appendAudit(sdd.paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
  await appendAudit(sdd.paths, {auth_mode: 'basic', event: 'link', preview_id: 'p-00000001'})
  await appendAudit(sdd.paths, {event: 'stop', preview_id: 'p-00000001', reason: 'operator'})
})

afterEach(() => {
  if (saved === undefined) delete process.env.PREVIEW_SDD_DIR
  else process.env.PREVIEW_SDD_DIR = saved
  sdd.cleanup()
})

function editLine(n: number): void {
  const lines = readFileSync(sdd.paths.audit, 'utf8').split('\n')
  lines[n - 1] = (lines[n - 1] as string).replace('"basic"', '"none"')
  writeFileSync(sdd.paths.audit, lines.join('\n'))
}

describe('preview audit verify', () => {
  it('exits 0 with the entry count when intact', async () => {
    const res = await runCommand(AuditVerify, [])
    expect(res.exit).toBe(0)
    expect(res.stdout).toContain('Audit log intact: 3 entries')
  })

  it('--json prints {ok, entries, first_bad}', async () => {
    const res = await runCommand(AuditVerify, ['--json'])
    expect(res.exit).toBe(0)
    expect(JSON.parse(res.stdout)).toEqual({entries: 3, first_bad: null, ok: true})
  })

  it('exits 1 naming the first bad seq and what is wrong', async () => {
    editLine(2)
    const res = await runCommand(AuditVerify, [])
    expect(res.exit).toBe(1)
    expect(res.stderr).toMatch(/broken at seq 2 \(edited\)/)
    expect(res.stderr).toContain('Keep a copy of the log')
  })

  it('exits 1 naming the missing seq when .head and the last line were both deleted', async () => {
    rmSync(`${sdd.paths.audit}.head`)
    const lines = readFileSync(sdd.paths.audit, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
    writeFileSync(
      sdd.paths.audit,
      lines
        .slice(0, 2)
        .map((l) => l + '\n')
        .join(''),
    )
    const res = await runCommand(AuditVerify, ['--json'])
    expect(res.exit).toBe(1)
    expect(JSON.parse(res.stdout)).toMatchObject({entries: 2, first_bad: {problem: 'deleted', seq: 3}, ok: false})
    const human = await runCommand(AuditVerify, [])
    expect(human.stderr).toMatch(/broken at seq 3 \(deleted\).*seq 3 is missing/)
  })

  it('--json on a broken log: the verify result and the error, exit 1, one document on stdout', async () => {
    editLine(2)
    const res = await runCommand(AuditVerify, ['--json'])
    expect(res.exit).toBe(1)
    const doc = JSON.parse(res.stdout) as Record<string, unknown>
    expect(doc).toMatchObject({entries: 3, error: {code: 'AUDIT_BROKEN'}, first_bad: {line: 2, problem: 'edited', seq: 2}, ok: false})
  })
})

describe('preview metrics', () => {
  it('prints the exposition', async () => {
    const res = await runCommand(Metrics, [])
    expect(res.exit).toBe(0)
    expect(res.stdout).toContain('preview_started_total{provider="local",auth_mode="token"} 1\n')
    expect(res.stdout).toContain('preview_link_issued_total{auth_mode="basic"} 1\n')
    expect(res.stdout.endsWith('\n') && !res.stdout.endsWith('\n\n')).toBe(true)
  })

  it('--port without --serve is bad input (exit 2)', async () => {
    const res = await runCommand(Metrics, ['--port', '9999'])
    expect(res.exit).toBe(2)
    expect(res.stderr).toContain('--host and --port only apply with --serve')
  })
})

describe('locating .sdd (PreviewManager.sddPaths)', () => {
  const resolveSddDir = async (opts: {cwd: string; env: NodeJS.ProcessEnv}) => (await new PreviewManager(opts).sddPaths()).root
  it('PREVIEW_SDD_DIR wins; otherwise <git top-level>/.sdd; outside git, a clear error', async () => {
    expect(await resolveSddDir({cwd: '/', env: {PREVIEW_SDD_DIR: '/x/.sdd'}})).toBe('/x/.sdd')
    const repo = path.join(sdd.dir, 'repo')
    mkdirSync(path.join(repo, 'sub'), {recursive: true})
    expect((await run('git', ['init', '-q', repo], {cwd: sdd.dir})).exitCode).toBe(0)
    expect(await resolveSddDir({cwd: path.join(repo, 'sub'), env: {}})).toBe(path.join(realpathSync(repo), '.sdd'))
    const outside = path.join(sdd.dir, 'plain')
    mkdirSync(outside)
    await expect(resolveSddDir({cwd: outside, env: {GIT_CEILING_DIRECTORIES: sdd.dir}})).rejects.toMatchObject({
      code: 'NOT_A_GIT_REPOSITORY',
    })
  })
})
