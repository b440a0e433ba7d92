// Tamper detection: each kind of tampering fails verify at the right seq, and an intact log verifies fast.
import {readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {appendAudit, auditHeadFile, auditRuntimeAnchorFile, readAudit, type AuditEntry} from '../../src/core/records/audit.js'
import {verifyAudit} from '../../src/core/records/audit-verify.js'
import type {SddPaths} from '../../src/core/records/paths.js'
import {forgedLine, tempSdd, writeSyntheticChain} from './audit-fixtures.js'

let sdd: ReturnType<typeof tempSdd>
let paths: SddPaths

const lines = (): string[] =>
  readFileSync(paths.audit, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
const writeLines = (ls: string[]): void => writeFileSync(paths.audit, ls.map((l) => l + '\n').join(''))

async function appendMany(n: number): Promise<AuditEntry[]> {
  const out: AuditEntry[] = []
  for (let i = 1; i <= n; i++) {
    const id = `p-0000000${i % 3}`
    out.push(
      await appendAudit(
        paths,
        i % 2 === 1
          ? {auth_mode: 'token', event: 'start', preview_id: id, provider: 'local'}
          : {event: 'stop', preview_id: id, reason: 'operator'},
      ),
    )
  }

  return out
}

beforeEach(() => {
  sdd = tempSdd()
  paths = sdd.paths
})
afterEach(() => sdd.cleanup())

describe('verifyAudit on an intact log', () => {
  it('accepts a missing log as empty', () => {
    expect(verifyAudit(paths)).toEqual({entries: 0, ok: true})
  })

  it('accepts what appendAudit wrote, with 0600 files', async () => {
    const written = await appendMany(12)
    expect(written.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(written[0]?.prev).toBeNull()
    expect(written[5]?.prev).toBe(written[4]?.mac)
    expect(verifyAudit(paths)).toEqual({entries: 12, ok: true})
    expect(readAudit(paths)).toHaveLength(12)
    for (const file of [paths.audit, paths.auditKey, auditHeadFile(paths), auditRuntimeAnchorFile(paths)])
      expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('verifies 10,000 entries in well under a second', () => {
    writeSyntheticChain(paths, 10_000)
    verifyAudit(paths) // warm up the JIT and the page cache
    const t0 = performance.now()
    const res = verifyAudit(paths)
    const ms = performance.now() - t0
    expect(res).toEqual({entries: 10_000, ok: true})
    expect(ms).toBeLessThan(500)
  })
})

describe('verifyAudit names the first bad seq and what was done', () => {
  beforeEach(async () => {
    await appendMany(12)
  })

  it('an edited line', () => {
    const ls = lines()
    ls[4] = (ls[4] as string).replace('"operator"', '"expiry"').replace('"token"', '"none"')
    expect(ls[4]).not.toBe(lines()[4])
    writeLines(ls)
    expect(verifyAudit(paths)).toMatchObject({entries: 12, firstBad: {line: 5, problem: 'edited', seq: 5}, ok: false})
  })

  it('an edited field order or whitespace is not tampering (canonical JSON)', () => {
    const ls = lines()
    const e = JSON.parse(ls[3] as string) as Record<string, unknown>
    ls[3] = JSON.stringify(Object.fromEntries(Object.entries(e).reverse()), null, 0)
    writeLines(ls)
    expect(verifyAudit(paths).ok).toBe(true)
  })

  it('a deleted line', () => {
    const ls = lines()
    ls.splice(4, 1)
    writeLines(ls)
    expect(verifyAudit(paths)).toMatchObject({entries: 11, firstBad: {line: 5, problem: 'deleted', seq: 5}, ok: false})
  })

  it('several deleted lines name the first missing seq', () => {
    const ls = lines()
    ls.splice(6, 3)
    writeLines(ls)
    const res = verifyAudit(paths)
    expect(res.firstBad).toMatchObject({problem: 'deleted', seq: 7})
    expect(res.firstBad?.message).toContain('7-9')
  })

  it('a deleted first line', () => {
    writeLines(lines().slice(1))
    expect(verifyAudit(paths).firstBad).toMatchObject({line: 1, problem: 'deleted', seq: 1})
  })

  it('deleted last lines (caught by the head anchor)', () => {
    writeLines(lines().slice(0, 10))
    expect(verifyAudit(paths)).toMatchObject({entries: 10, firstBad: {problem: 'deleted', seq: 11}, ok: false})
  })

  it('an emptied log (caught by the head anchor)', () => {
    writeFileSync(paths.audit, '')
    expect(verifyAudit(paths).firstBad).toMatchObject({problem: 'deleted', seq: 1})
  })

  it('an edited head anchor', () => {
    const head = JSON.parse(readFileSync(auditHeadFile(paths), 'utf8')) as {seq: number}
    writeFileSync(auditHeadFile(paths), JSON.stringify({...head, seq: 3}))
    expect(verifyAudit(paths).firstBad).toMatchObject({problem: 'forged', seq: null})
  })

  it('a reordered pair', () => {
    const ls = lines()
    ;[ls[4], ls[5]] = [ls[5] as string, ls[4] as string]
    writeLines(ls)
    const res = verifyAudit(paths)
    expect(res).toMatchObject({entries: 12, firstBad: {line: 5, problem: 'reordered', seq: 6}, ok: false})
    expect(res.firstBad?.message).toContain('seq 5 comes later, at line 6')
  })

  it('a line moved to the end', () => {
    const ls = lines()
    const [moved] = ls.splice(2, 1)
    ls.push(moved as string)
    writeLines(ls)
    expect(verifyAudit(paths).firstBad).toMatchObject({line: 3, problem: 'reordered', seq: 4})
  })

  it('an inserted line that takes the next seq', () => {
    const ls = lines()
    const before = JSON.parse(ls[4] as string) as AuditEntry
    ls.splice(5, 0, forgedLine({prev: before.mac, seq: 6}))
    writeLines(ls)
    expect(verifyAudit(paths)).toMatchObject({entries: 13, firstBad: {line: 6, problem: 'inserted', seq: 6}, ok: false})
  })

  it('an inserted copy of a genuine line', () => {
    const ls = lines()
    ls.splice(8, 0, ls[2] as string)
    writeLines(ls)
    expect(verifyAudit(paths).firstBad).toMatchObject({line: 9, problem: 'inserted', seq: 3})
  })

  it('an appended forged line that continues the chain', () => {
    const ls = lines()
    const last = JSON.parse(ls.at(-1) as string) as AuditEntry
    ls.push(forgedLine({prev: last.mac, seq: 13}))
    writeLines(ls)
    expect(verifyAudit(paths)).toMatchObject({entries: 13, firstBad: {line: 13, problem: 'forged', seq: 13}, ok: false})
  })

  it('an appended forged line that reuses the last seq', () => {
    const ls = lines()
    const last = JSON.parse(ls.at(-1) as string) as AuditEntry
    ls.push(forgedLine({prev: last.prev, seq: 12}))
    writeLines(ls)
    expect(verifyAudit(paths).firstBad).toMatchObject({line: 13, problem: 'forged', seq: 12})
  })

  it('a line that is no longer JSON', () => {
    const ls = lines()
    ls[3] = (ls[3] as string).slice(0, 40)
    writeLines(ls)
    expect(verifyAudit(paths).firstBad).toMatchObject({line: 4, problem: 'malformed'})
  })

  it('a log replaced by a fresh chain made with another key is forged from its first line', () => {
    rmSync(paths.auditKey)
    rmSync(auditHeadFile(paths))
    writeFileSync(paths.auditKey, Buffer.alloc(32, 7), {mode: 0o600})
    const res = verifyAudit(paths)
    expect(res.firstBad).toMatchObject({line: 1, problem: 'forged', seq: 1})
    expect(res.firstBad?.message).toContain('No entry carries a valid MAC')
  })

  it('deleted .head and the last line: the second anchor (in .sdd/runtime/preview/) names the missing seq', () => {
    rmSync(auditHeadFile(paths))
    writeLines(lines().slice(0, 11))
    const res = verifyAudit(paths)
    expect(res).toMatchObject({entries: 11, firstBad: {line: 12, problem: 'deleted', seq: 12}, ok: false})
    expect(res.firstBad?.message).toContain(`seq 12 is missing (${auditRuntimeAnchorFile(paths)} records seq 12)`)
  })

  it('deleted .head and emptied the log: still caught', () => {
    rmSync(auditHeadFile(paths))
    rmSync(paths.audit)
    expect(verifyAudit(paths)).toMatchObject({entries: 0, firstBad: {problem: 'deleted', seq: 1}, ok: false})
  })

  it('an older runtime anchor put back, .head deleted, the tail cut: the older record still has to hold', async () => {
    const older = readFileSync(auditRuntimeAnchorFile(paths)) // says seq 12
    await appendMany(2)
    writeFileSync(auditRuntimeAnchorFile(paths), older)
    rmSync(auditHeadFile(paths))
    writeLines(lines().slice(0, 11))
    expect(verifyAudit(paths).firstBad).toMatchObject({problem: 'deleted', seq: 12})
  })

  it('the runtime anchor, edited, is forged', () => {
    const anchor = JSON.parse(readFileSync(auditRuntimeAnchorFile(paths), 'utf8')) as {seq: number}
    writeFileSync(auditRuntimeAnchorFile(paths), JSON.stringify({...anchor, seq: 3}))
    const res = verifyAudit(paths)
    expect(res.firstBad).toMatchObject({problem: 'forged', seq: null})
    expect(res.firstBad?.message).toContain(auditRuntimeAnchorFile(paths))
  })

  it('the .head copied over the runtime anchor is not accepted (each anchor is MACed under its own name)', () => {
    writeFileSync(auditRuntimeAnchorFile(paths), readFileSync(auditHeadFile(paths)))
    expect(verifyAudit(paths).firstBad).toMatchObject({problem: 'forged', seq: null})
  })

  it('a log one entry ahead of both anchors (a writer died between the writes) verifies', async () => {
    const head = readFileSync(auditHeadFile(paths))
    const runtime = readFileSync(auditRuntimeAnchorFile(paths))
    await appendAudit(paths, {event: 'stop', preview_id: 'p-00000001', reason: 'operator'})
    writeFileSync(auditHeadFile(paths), head)
    writeFileSync(auditRuntimeAnchorFile(paths), runtime)
    expect(verifyAudit(paths)).toEqual({entries: 13, ok: true})
  })

  it('without either anchor, cutting the tail is not detectable (documented limit)', () => {
    rmSync(auditHeadFile(paths))
    rmSync(auditRuntimeAnchorFile(paths))
    writeLines(lines().slice(0, 10))
    expect(verifyAudit(paths)).toEqual({entries: 10, ok: true})
  })
})
