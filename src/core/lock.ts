// Cross-process locks (proper-lockfile): one writer at a time for state.json and the audit log.
import {createRequire} from 'node:module'
import path from 'node:path'
import {ensureDir} from './fsutil.js'

// Loaded on the first write: reading state (list, status) takes no lock and should not load the library.
const require = createRequire(import.meta.url)

/** Waits up to ~10 s for the lock; a holder that died is considered stale after 10 s. */
const LOCK_OPTIONS = {
  realpath: false,
  retries: {factor: 1.3, maxTimeout: 100, minTimeout: 5, randomize: true, retries: 200},
  stale: 10_000,
}

export async function withLock<T>(file: string, fn: () => Promise<T> | T): Promise<T> {
  ensureDir(path.dirname(file))
  const lockfile = require('proper-lockfile') as typeof import('proper-lockfile')
  const release = await lockfile.lock(file, LOCK_OPTIONS)
  try {
    return await fn()
  } finally {
    await release().catch(() => {})
  }
}
