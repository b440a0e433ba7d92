// Small file helpers: private files (0600), atomic writes, directories.
import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, chmodSync} from 'node:fs'
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
 * Reads a secret key file, creating it with `bytes` random bytes and mode 0600 on first use.
 * `wx` makes creation race-free: if two processes create it at once, the loser reads the winner's key.
 */
export function readOrCreateKey(file: string, bytes = 32): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }

  ensureDir(path.dirname(file))
  const key = randomBytes(bytes)
  try {
    const fd = openSync(file, 'wx', 0o600)
    try {
      writeSync(fd, key)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }

    return key
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file)
    throw error
  }
}
