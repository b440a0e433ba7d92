// The start fast path parses `start`'s flags itself: it must agree with oclif, and hand oclif what it cannot decide.
import {Config} from '@oclif/core'
import {describe, expect, it} from 'vitest'
import {parseStartArgv} from '../../src/cli/start-flags.js'
import {ROOT} from '../helpers/cli.js'

describe('parseStartArgv', () => {
  it.each([
    [[]],
    [['--provider', 'local', '--auth', 'none', '--json']],
    [['--provider=local', '--expire=30m', '--no-clipboard', '--no-install', '--qr']],
    [['--cwd', '.', '--command', 'npm run dev -- --port 3000', '--ready-timeout', '5s', '--idle-ttl', '2m']],
    [['--ref', 'feature/x', '--clipboard', '--install']],
    [['--provider', 'caddy', '--auth', 'token']],
    [['--provider=template']],
    [['--working-copy', '--provider', 'local']],
    [['--attach', '3000', '--auth', 'basic']],
  ])('agrees with oclif on %j', async (argv) => {
    const config = await Config.load(ROOT)
    const Start = (await config.findCommand('start')!.load()) as unknown as {flags: Record<string, unknown>}
    const {Parser} = await import('@oclif/core')
    const oclif = await Parser.parse(argv, {
      flags: {...(Start.flags as object), json: (await import('@oclif/core')).Flags.boolean()},
    } as never)
    const mine = parseStartArgv(argv)
    expect(mine).not.toBeNull()
    const {json, ...oclifFlags} = oclif.flags as Record<string, unknown>
    // Same values for every flag oclif set, and nothing set that oclif left unset.
    const defined = Object.fromEntries(Object.entries(mine!.flags).filter(([, v]) => v !== undefined))
    expect(defined).toEqual(oclifFlags)
    expect(mine!.json).toBe(Boolean(json))
  })

  it.each([
    [['--help']],
    [['--bogus']],
    [['--provider', 'a', '--provider', 'b']],
    [['--clipboard', '--no-clipboard']],
    [['positional']],
    [['--provider']],
  ])('leaves %j to oclif', (argv) => {
    expect(parseStartArgv(argv)).toBeNull()
  })
})
