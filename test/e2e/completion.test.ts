// Shell completion (oclif's plugin-autocomplete) really completes our commands and flags in bash.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {runCli} from '../helpers/cli.js'

describe('preview autocomplete', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'preview-ac-'))
  afterAll(() => rmSync(home, {force: true, recursive: true}))

  it('the bash function it installs completes commands, topic commands and flags', async () => {
    const env = {HOME: home, XDG_CACHE_HOME: path.join(home, '.cache')}
    const setup = await runCli(['autocomplete', 'script', 'bash'], {cwd: home, env})
    expect(setup.code, setup.stderr).toBe(0)
    const refresh = await runCli(['autocomplete', '--refresh-cache'], {cwd: home, env})
    expect(refresh.code, refresh.stderr).toBe(0)
    const fn = path.join(home, '.cache', 'preview', 'autocomplete', 'functions', 'bash', 'preview.bash')
    const complete = (...words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source ${fn}; COMP_WORDS=(${words.join(' ')}); COMP_CWORD=${words.length - 1}; _preview_autocomplete; echo "\${COMPREPLY[@]}"`,
        ],
        {encoding: 'utf8'},
      )
        .trim()
        .split(/\s+/)
    expect(complete('preview', 'st')).toEqual(['start', 'status', 'stop'])
    expect(complete('preview', 'ev')).toEqual(['events'])
    expect(complete('preview', 'status', '--sh')).toEqual(['--show-secrets'])
    expect(complete('preview', 'audit', 've')).toEqual(['verify'])
  })
})
