// Shared helpers for the audit and metrics tests: temp .sdd trees, synthetic chains, a compiled copy of src.
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {canonicalJson, loadAuditKey, macOf, type AuditEntry} from '../../src/core/preview/audit.js'
import {sddPaths, type SddPaths} from '../../src/core/preview/paths.js'
import {run} from '../../src/core/process.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** A fresh .sdd root under the OS temp dir; remove it with cleanup(). */
export function tempSdd(): {paths: SddPaths; dir: string; cleanup: () => void} {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-audit-'))
  return {cleanup: () => rmSync(dir, {force: true, recursive: true}), dir, paths: sddPaths(path.join(dir, '.sdd'))}
}

/**
 * Writes a chain of `n` entries in one go, exactly as appendAudit would (same key, same canonical JSON),
 * without paying a lock and an fsync per entry: for the 10,000-entry checks.
 */
export function writeSyntheticChain(paths: SddPaths, n: number): AuditEntry[] {
  mkdirSync(paths.auditDir, {recursive: true})
  const key = loadAuditKey(paths)
  const entries: AuditEntry[] = []
  let prev: string | null = null
  const t0 = Date.parse('2025-01-01T00:00:00Z')
  for (let seq = 1; seq <= n; seq++) {
    const id = `p-${(seq % 97).toString(16).padStart(8, '0')}`
    const body = {
      actor: 'bench',
      event: seq % 2 === 1 ? 'start' : 'stop',
      prev,
      preview_id: id,
      seq,
      ts: new Date(t0 + seq * 1000).toISOString(),
      ...(seq % 2 === 1 ? {auth_mode: 'token', provider: 'local'} : {reason: 'operator'}),
    } as Omit<AuditEntry, 'mac'>
    const entry = {...body, mac: macOf(key, body)} as AuditEntry
    entries.push(entry)
    prev = entry.mac
  }

  writeFileSync(paths.audit, entries.map((e) => canonicalJson(e) + '\n').join(''), {mode: 0o600})
  return entries
}

/** A line that looks like an entry but was made without our key. */
export function forgedLine(fields: Record<string, unknown>): string {
  const body = {actor: 'mallory', event: 'start', preview_id: 'p-deadbeef', ts: new Date().toISOString(), ...fields}
  return canonicalJson({...body, mac: macOf(randomBytes(32), body as Omit<AuditEntry, 'mac'>)})
}

/**
 * Compiles src with the project's tsc into a private directory under test/.tmp (inside the repo, so that
 * node_modules resolves), for tests that need real child processes running our code.
 */
export async function buildDist(): Promise<string> {
  const out = path.join(ROOT, 'test', '.tmp', `dist-${process.pid}-${randomBytes(3).toString('hex')}`)
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const res = await run(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', out, '--declaration', 'false', '--sourceMap', 'false'], {
    cwd: ROOT,
    timeoutMs: 120_000,
  })
  if (res.exitCode !== 0) throw new Error(`tsc failed:\n${res.stdout}\n${res.stderr}`)
  return out
}

/** Whether a binary exists; when missing, tests skip with a message, or fail when CI is set. */
export async function haveBinary(bin: string): Promise<boolean> {
  const res = await run('sh', ['-c', `command -v ${bin}`], {cwd: ROOT, timeoutMs: 10_000})
  return res.exitCode === 0
}
