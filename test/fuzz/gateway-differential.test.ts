// The gateway against Node's own parser (llhttp): FUZZ_CASES cases (default 50,000) from FUZZ_SEED (default fixed).
// See harness.ts for the properties. FUZZ_GATEWAY=<path to a built gateway module> runs it against dist/ (the bench
// does: bench/gateway/fuzz.mjs); FUZZ_REPORT=<file> writes the result as JSON. FUZZ_REPLAY='<JSON string>' (a repro as
// printed, FUZZ_REPLAY_MODE token|basic|none) runs that one stream and prints what the gateway, upstream and llhttp saw.
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {expect, it} from 'vitest'
import {describe as describeResult, jsonBytes, replay, runFuzz, type StartGateway} from './harness.js'
import type {GatewayMode} from './generators.js'
import {startNaiveGateway} from './naive-gateway.js'

const CASES = Number(process.env.FUZZ_CASES ?? 50_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201)

async function gatewayUnderTest(): Promise<StartGateway> {
  const file = process.env.FUZZ_GATEWAY
  const mod = (file ? await import(pathToFileURL(path.resolve(file)).href) : await import('../../src/core/gateway/index.js')) as {
    startGateway: unknown
  }
  return mod.startGateway as StartGateway
}

it.skipIf(process.env.FUZZ_REPLAY !== undefined)(
  `every request the app parses is one the gateway checked and forwarded (${CASES} cases, seed ${SEED})`,
  async () => {
    const result = await runFuzz({cases: CASES, log: (l) => console.log(l), seed: SEED, startGateway: await gatewayUnderTest()})
    const lines = describeResult(result)
    console.log(lines.join('\n'))
    if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, JSON.stringify(result, null, 2))
    expect(result.cases).toBe(CASES)
    expect(result.classes.map((c) => `${c.kind}: ${jsonBytes(c.repro.stream)}`)).toEqual([])
  },
  Number(process.env.FUZZ_TIMEOUT_MS ?? 600_000),
)

// The harness's own noise check: well-formed traffic (exact tokens, correct framing, pipelined, split at random)
// through a gateway shows no divergence, so each one the hostile run reports is the gateway's, not the harness's.
it.skipIf(process.env.FUZZ_REPLAY !== undefined)('well-formed traffic shows no divergence (harness noise check)', async () => {
  const result = await runFuzz({
    cases: Number(process.env.FUZZ_WELL_FORMED_CASES ?? 2000),
    seed: SEED,
    startGateway: await gatewayUnderTest(),
    wellFormed: true,
  })
  console.log(describeResult(result).join('\n').replace('gateway fuzz:', 'gateway fuzz (well-formed):'))
  expect(result.classes.map((c) => `${c.kind}: ${jsonBytes(c.repro.stream)}`)).toEqual([])
})

// The fuzzer's power check: against a gateway with the classic mistakes (naive-gateway.ts) it must find them.
it.skipIf(process.env.FUZZ_REPLAY !== undefined)('finds the classic mistakes in a naive gateway (fuzzer power check)', async () => {
  const result = await runFuzz({cases: 2000, seed: SEED, shrinkMs: 0, startGateway: startNaiveGateway})
  const kinds = result.classes.map((c) => c.kind)
  console.log(`gateway fuzz (naive gateway): ${result.cases} cases, ${result.divergentCases} divergences, classes ${kinds.join(', ')}`)
  // Connection: content-length smuggling: the body becomes a request the gateway never saw.
  expect(kinds).toContain('upstream-parsed-unforwarded')
  // A bare LF in the target: the app's parser ends the request line there.
  expect(kinds).toContain('upstream-differs:target')
  // Revoked, expired or misplaced tokens let through.
  expect(kinds.filter((k) => k.startsWith('unauthenticated-reached-app'))).not.toEqual([])
})

it.runIf(process.env.FUZZ_REPLAY !== undefined)('replays FUZZ_REPLAY', async () => {
  const stream = JSON.parse(process.env.FUZZ_REPLAY!) as string
  const mode = (process.env.FUZZ_REPLAY_MODE ?? 'token') as GatewayMode
  const out = await replay(await gatewayUnderTest(), SEED, mode, stream)
  console.log(JSON.stringify(out, null, 2))
})
