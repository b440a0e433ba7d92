// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by package (node_modules/<pkg>, dist/, node
// internals) and the top functions, so a bench section can say where a command's CPU goes.
import {readFileSync} from 'node:fs'

/** Where a frame's code lives: an npm package, this project's dist/, node internals, or the runtime. */
function owner(url) {
  if (!url) return '(native / GC / idle)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]
  if (url.includes('/dist/')) return 'dist/ (preview)'
  if (url.startsWith('node:')) return 'node internals'
  return url.split('/').slice(-2).join('/')
}

/** Self time (ms) by owner and by function, from one profile. */
export function summarise(file, top = 8) {
  const prof = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const self = new Map()
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000)
  }

  const byOwner = new Map()
  const byFn = new Map()
  let total = 0
  for (const [id, t] of self) {
    const n = byId.get(id)
    const {functionName, lineNumber, url} = n.callFrame
    if (functionName === '(idle)' || functionName === '(program)') continue
    total += t
    const o = functionName === '(garbage collector)' ? '(garbage collector)' : owner(url)
    byOwner.set(o, (byOwner.get(o) ?? 0) + t)
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${lineNumber + 1}` : ''}`.trim()
    byFn.set(key, (byFn.get(key) ?? 0) + t)
  }

  const sort = (m) => [...m.entries()].sort((a, b) => b[1] - a[1])
  return {byFunction: sort(byFn).slice(0, top), byOwner: sort(byOwner).slice(0, top), totalMs: total}
}
