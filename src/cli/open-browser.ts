// `start --open`: the platform's own opener (xdg-open, open, start), detached so it outlives nothing of ours.
// No library: the `open` package is not installed and the three openers are all it would run here.
import {existsSync} from 'node:fs'
import path from 'node:path'
import {spawnGroup} from '../core/process.js'

/** The opener command for this platform found on PATH (PREVIEW_BROWSER_OPENER overrides, e.g. in tests). */
export function opener(env: NodeJS.ProcessEnv = process.env): {file: string; args: string[]} | null {
  if (env.PREVIEW_BROWSER_OPENER) return {args: [], file: env.PREVIEW_BROWSER_OPENER}
  if (process.platform === 'win32') return {args: ['/c', 'start', '""'], file: 'cmd'}
  const name = process.platform === 'darwin' ? 'open' : 'xdg-open'
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return {args: [], file: path.join(dir, name)}
  }

  return null
}

/** Opens `url` in the default browser; false when there is no opener. Never waits for the browser. */
export function openInBrowser(url: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const found = opener(env)
  if (!found) return false
  try {
    const child = spawnGroup(found.file, [...found.args, url], {cwd: process.cwd(), env, stdio: 'ignore'})
    child.on('error', () => {}) // a broken opener: the URL is printed anyway
    child.unref()
    return true
  } catch {
    return false
  }
}
