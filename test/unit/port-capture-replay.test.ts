// Replays every fixture through a real process that listens where its banner says, reads its output line by line
// through PortSniffer as the supervisor does, and confirms the chosen port with a TCP connect.
import {connect} from 'node:net'
import {createInterface} from 'node:readline'
import type {Readable} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {PortSniffer} from '../../src/core/discovery/port-capture.js'
import {killGroup, spawnGroup} from '../../src/core/process.js'
import {FIXTURE_DIR, loadFixtures, type PortFixture} from '../fixtures/port-capture/fixtures.js'

const REPLAY = `${FIXTURE_DIR}/replay-server.mjs`
/** Replays at once: two cores, and each replay is a node cold start. */
const CONCURRENCY = 4
const PER_FIXTURE_MS = 8000

interface ReplayResult {
  name: string
  port: number
  best: number | null
  pushed: number[]
  connected: boolean
  lines: number
}

function lines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({crlfDelay: Number.POSITIVE_INFINITY, input: stream})
    rl.on('line', onLine)
    rl.on('close', resolve)
  })
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({host, port})
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }

    sock.setTimeout(2000, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

async function replay(f: PortFixture): Promise<ReplayResult> {
  const child = spawnGroup(process.execPath, [REPLAY, f.file], {
    cwd: FIXTURE_DIR,
    env: {PATH: process.env.PATH ?? ''},
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  })
  let timer: NodeJS.Timeout | undefined
  try {
    const work = (async () => {
      const control = child.stdio[3] as Readable
      let port = 0
      const sniffer = new PortSniffer()
      const pushed: number[] = []
      let count = 0
      const feed = (line: string) => {
        count++
        const c = sniffer.push(line)
        if (c) pushed.push(c.port)
      }

      await Promise.all([
        lines(control, (l) => {
          port = Number(l)
        }),
        lines(child.stdout!, feed),
        lines(child.stderr!, feed),
      ])
      const best = sniffer.best()?.port ?? null
      const host = f.listen === '::1' ? '::1' : '127.0.0.1'
      const connected = best === null ? false : await tcpOpen(host, best)
      return {best, connected, lines: count, name: f.name, port, pushed}
    })()
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${f.name}: replay took over ${PER_FIXTURE_MS} ms`)), PER_FIXTURE_MS)
    })
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
    await killGroup(child.pid, {graceMs: 500})
  }
}

async function replayAll(all: PortFixture[]): Promise<Map<string, ReplayResult>> {
  const out = new Map<string, ReplayResult>()
  const queue = [...all]
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) out.set(f.name, await replay(f))
  }

  await Promise.all(Array.from({length: CONCURRENCY}, worker))
  return out
}

describe('replay of the corpus through real listening processes', () => {
  const fixtures = loadFixtures()

  it('chooses the port the banner names and finds it open', async () => {
    const t0 = Date.now()
    const results = await replayAll(fixtures)
    const elapsed = Date.now() - t0
    const failures: string[] = []
    for (const f of fixtures) {
      const r = results.get(f.name)!
      expect(r.port, f.name).toBeGreaterThan(0)
      // readline also breaks on a bare \r (spinners), so it may see more lines than the file has; never fewer.
      expect(r.lines, f.name).toBeGreaterThanOrEqual(f.lines.length)
      if (f.expect === null) {
        if (r.best !== null) failures.push(`${f.name}: expected nothing, chose ${r.best}`)
        continue
      }

      if (r.best !== r.port) failures.push(`${f.name}: listening on ${r.port}, chose ${r.best}`)
      else if (!r.connected) failures.push(`${f.name}: chose ${r.best} but a TCP connect failed`)
      for (const trap of f.traps) if (r.pushed.includes(trap)) failures.push(`${f.name}: offered trap port ${trap}`)
    }

    expect(failures).toEqual([])
    expect(elapsed).toBeLessThan(20_000)
  }, 40_000)

  it('the TCP confirmation fails once nothing listens on the chosen port', async () => {
    const f = fixtures.find((x) => x.name === 'trap-node-inspect')!
    const r = await replay(f)
    expect(r.best).toBe(r.port)
    expect(r.connected).toBe(true)
    // The replay process is gone now: the port it chose no longer answers, so the check is able to fail.
    expect(await tcpOpen('127.0.0.1', r.port)).toBe(false)
  })
})
