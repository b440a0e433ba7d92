// Installs the real apps once (cached in test/.cache/apps, keyed by what generates them) before any browser test.
import {existsSync} from 'node:fs'
import {APPS, ensureApp} from '../../scripts/e2e-apps.mjs'
import {CHROMIUM} from './harness.js'

export default function setup(): void {
  // Fail loudly, never skip: a missing browser is a broken machine, not a passing suite.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`)
  for (const name of Object.keys(APPS) as Array<keyof typeof APPS>) {
    const t0 = Date.now()
    ensureApp(name)
    const s = (Date.now() - t0) / 1000
    if (s > 1) process.stderr.write(`e2e app "${name}" installed into the cache in ${s.toFixed(1)} s\n`)
  }
}
