// Process and socket checks from the outside, as a user would make them.
import {readdirSync, readFileSync, readlinkSync} from 'node:fs'
import net from 'node:net'

/** Pids (not zombies) whose cwd is inside `dir`: what a stop must leave none of. */
export function pidsInside(dir: string): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`)
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
      if ((cwd === dir || cwd.startsWith(dir + '/')) && state !== 'Z') out.push(pid)
    } catch {
      // gone
    }
  }

  return out
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({host, port})
    s.setTimeout(1000, () => {
      s.destroy()
      resolve(false)
    })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** Polls a condition (bounded) every 50 ms. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return true
    await new Promise((r) => setTimeout(r, 50))
  }

  return cond()
}
