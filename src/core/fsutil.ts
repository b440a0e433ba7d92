// Small file helpers: private files (0600), atomic writes, directories.
import {randomBytes} from 'node:crypto'
import {chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync} from 'node:fs'
import path from 'node:path'

export function ensureDir(dir: string, mode = 0o700): void {
  mkdirSync(dir, {mode, recursive: true})
}

/** Writes a file through a temp file + fsync + rename, so readers never see half of it. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  ensureDir(path.dirname(file))
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fd = openSync(tmp, 'w', mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }

  chmodSync(tmp, mode)
  renameSync(tmp, file)
}

/**
 * Reads a secret key file, creating it with `bytes` random bytes and mode 0600 on first use. Creation is
 * atomic: the key is written to a temp file and hard-linked into place (link fails if the file exists), so a
 * concurrent reader never sees an empty or half-written key and two creators agree on one key.
 */
export function readOrCreateKey(file: string, bytes = 32): Buffer {
  const existing = readKey(file, bytes)
  if (existing) return existing
  ensureDir(path.dirname(file))
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    writeSync(fd, randomBytes(bytes))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }

  try {
    linkSync(tmp, file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    rmSync(tmp, {force: true})
  }

  const key = readKey(file, bytes)
  if (!key) throw new Error(`${file} is not a ${bytes}-byte key`)
  return key
}

function readKey(file: string, bytes: number): Buffer | null {
  try {
    const key = readFileSync(file)
    return key.length >= bytes ? key : null
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}
