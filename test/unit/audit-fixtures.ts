// Shared helpers for the audit and metrics tests: temp .sdd trees, synthetic chains, a compiled copy of src.
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {canonicalJson, loadAuditKey, macOf, type AuditEntry} from '../../src/core/records/audit.js'
import {sddPaths, type SddPaths} from '../../src/core/records/paths.js'
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

/** Hash of everything the compiled output depends on: the sources and the compiler options. */
function sourceHash(): string {
  const h = createHash('sha256')
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, {withFileTypes: true}).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, name.name)
      if (name.isDirectory()) walk(full)
      else {
        h.update(path.relative(ROOT, full))
        h.update(readFileSync(full))
      }
    }
  }

  walk(path.join(ROOT, 'src'))
  h.update(readFileSync(path.join(ROOT, 'tsconfig.json')))
  return h.digest('hex').slice(0, 16)
}

/**
 * Compiles src with the project's tsc into test/.tmp/dist-<hash of src> (inside the repo, so that
 * node_modules resolves), for tests that need real child processes running our code. Test files running
 * in parallel may both build; the first rename wins and the other reuses it.
 */
export async function buildDist(): Promise<string> {
  const cacheRoot = path.join(ROOT, 'test', '.tmp')
  const out = path.join(cacheRoot, `dist-${sourceHash()}`)
  if (existsSync(path.join(out, 'commands', 'metrics.js'))) return out
  const building = `${out}.${process.pid}.${randomBytes(3).toString('hex')}.building`
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const res = await run(
    process.execPath,
    [tsc, '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', building, '--declaration', 'false', '--sourceMap', 'false'],
    {
      cwd: ROOT,
      timeoutMs: 120_000,
    },
  )
  if (res.exitCode !== 0) throw new Error(`tsc failed:\n${res.stdout}\n${res.stderr}`)
  try {
    renameSync(building, out)
  } catch {
    rmSync(building, {force: true, recursive: true}) // another test file won the race
  }

  // Builds of older sources are dead weight.
  for (const name of readdirSync(cacheRoot)) {
    if (name.startsWith('dist-') && path.join(cacheRoot, name) !== out && !name.endsWith('.building')) {
      rmSync(path.join(cacheRoot, name), {force: true, recursive: true})
    }
  }

  return out
}

/** Whether a binary exists; when missing, tests skip with a message, or fail when CI is set. */
export async function haveBinary(bin: string): Promise<boolean> {
  const res = await run('sh', ['-c', `command -v ${bin}`], {cwd: ROOT, timeoutMs: 10_000})
  return res.exitCode === 0
}
