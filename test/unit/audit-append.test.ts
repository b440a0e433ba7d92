// Parallel writers in separate processes never fork the chain: appendAudit takes the lock.
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {appendFileSync, readFileSync} from 'node:fs'
import {appendAudit, readAudit} from '../../src/core/records/audit.js'
import {verifyAudit} from '../../src/core/records/audit-verify.js'
import {run} from '../../src/core/process.js'
import {buildDist, tempSdd} from './audit-fixtures.js'

const WORKERS = 4
const PER_WORKER = 25

// Each child waits for a common start time, then appends as fast as it can.
const CHILD = `
const {appendAudit} = await import(process.env.AUDIT_MODULE)
const {sddPaths} = await import(process.env.PATHS_MODULE)
const paths = sddPaths(process.env.SDD_DIR)
while (Date.now() < Number(process.env.START_AT)) await new Promise((r) => setTimeout(r, 2))
for (let i = 0; i < Number(process.env.COUNT); i++) {
  await appendAudit(paths, {event: 'link', preview_id: 'p-0000000' + process.env.WORKER, auth_mode: 'token', jti: process.env.WORKER + '-' + i})
}
`

let dist: string
const sdd = tempSdd()

beforeAll(async () => {
  dist = await buildDist()
}, 120_000)

afterAll(() => {
  sdd.cleanup()
})

describe('appendAudit across processes', () => {
  it(`${WORKERS} processes appending ${PER_WORKER} entries each leave one unbroken chain`, async () => {
    const startAt = Date.now() + 1500 // all children are up (node cold start ~110 ms) before anyone writes
    const results = await Promise.all(
      Array.from({length: WORKERS}, (_, w) =>
        run(process.execPath, ['--input-type=module', '-e', CHILD], {
          cwd: path.dirname(dist),
          env: {
            ...process.env,
            AUDIT_MODULE: path.join(dist, 'core', 'records', 'audit.js'),
            COUNT: String(PER_WORKER),
            PATHS_MODULE: path.join(dist, 'core', 'records', 'paths.js'),
            SDD_DIR: path.join(sdd.dir, '.sdd'),
            START_AT: String(startAt),
            WORKER: String(w),
          },
          timeoutMs: 60_000,
        }),
      ),
    )
    for (const r of results) expect(r, r.stderr).toMatchObject({exitCode: 0})

    const entries = readAudit(sdd.paths)
    expect(entries.map((e) => e.seq)).toEqual(Array.from({length: WORKERS * PER_WORKER}, (_, i) => i + 1))
    for (let w = 0; w < WORKERS; w++) {
      expect(entries.filter((e) => e.preview_id === `p-0000000${w}`)).toHaveLength(PER_WORKER)
    }

    // The writers really interleaved, so the lock (not luck) kept the chain straight.
    const switches = entries.slice(1).filter((e, i) => e.preview_id !== entries[i]?.preview_id).length
    expect(switches).toBeGreaterThan(WORKERS)
    expect(verifyAudit(sdd.paths)).toEqual({entries: WORKERS * PER_WORKER, ok: true})
  })
})

describe('appendAudit after a line cut short', () => {
  it('starts a line of its own, continues the chain from the last real entry, and verify names the bad line', async () => {
    const local = tempSdd()
    try {
      await appendAudit(local.paths, {auth_mode: 'token', event: 'start', preview_id: 'p-00000001', provider: 'local'})
      await appendAudit(local.paths, {event: 'stop', preview_id: 'p-00000001', reason: 'operator'})
      appendFileSync(local.paths.audit, '{"actor":"x","event":"sta') // a write cut short (disk full, power loss)
      const next = await appendAudit(local.paths, {auth_mode: 'basic', event: 'start', preview_id: 'p-00000002', provider: 'local'})
      expect(next.seq).toBe(3)
      const lines = readFileSync(local.paths.audit, 'utf8').split('\n')
      expect(lines[2]).toBe('{"actor":"x","event":"sta')
      expect(JSON.parse(lines[3] as string)).toMatchObject({mac: next.mac, seq: 3})
      expect(verifyAudit(local.paths)).toMatchObject({entries: 4, firstBad: {line: 3, problem: 'malformed'}, ok: false})
    } finally {
      local.cleanup()
    }
  })
})
