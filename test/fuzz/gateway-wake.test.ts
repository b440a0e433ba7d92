// The differential fuzzer again, through a route with an ensureUpstream hook (host mode's on-demand start, the
// supervisor's idle wake): every connection's first request then waits for the hook before its head is built and
// the upstream connected, and what the client pipelines meanwhile is queued. The same properties must hold as on
// the direct path (harness.ts); FUZZ_WAKE_CASES cases (default 10,000) from FUZZ_SEED.
import {expect, it} from 'vitest'
import {startGateway} from '../../src/core/gateway/index.js'
import {jsonBytes, runFuzz, type StartGateway} from './harness.js'

const CASES = Number(process.env.FUZZ_WAKE_CASES ?? 10_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201)

/** The wake takes a timer's turn, so bytes that arrive with or after the first head queue behind it. */
const wakingGateway: StartGateway = (opts) =>
  startGateway({...opts, ensureUpstream: () => new Promise<void>((resolve) => setTimeout(resolve, 1))})

it(`behind a wake, every request the app parses is one the gateway checked and forwarded (${CASES} cases)`, async () => {
  const result = await runFuzz({cases: CASES, seed: SEED, startGateway: wakingGateway})
  expect(result.cases).toBe(CASES)
  expect(result.classes.map((c) => `${c.kind}: ${jsonBytes(c.repro.stream)}`)).toEqual([])
}, 300_000)
