// `npm run demo`: starts a real preview of examples/hello on the local provider (works offline) and prints the link.
import {spawnSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(root, 'bin', 'run.js')
const res = spawnSync(process.execPath, [bin, 'start', '--cwd', path.join(root, 'examples', 'hello'), '--provider', 'local', '--auth', 'token', '--expire', '1h'], {
  cwd: root,
  stdio: 'inherit',
})
if (res.status === 0) {
  console.log(`\nOpen the URL above in a browser (or: curl -L -b '' "<URL>", which keeps the session cookie). When done: node bin/run.js stop --all`)
}

process.exitCode = res.status ?? 1
