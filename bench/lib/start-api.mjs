// `preview start` through the programmatic API (PreviewManager from dist/), without oclif: what the CLI would cost
// with a start fast path. Prints the row as JSON, like `start --json`. Used by bench/overhead.mjs.
//   node bench/lib/start-api.mjs <cwd> <command>
import {PreviewManager} from '../../dist/core/preview/manager.js'

const [cwd, command] = process.argv.slice(2)
const result = await new PreviewManager({cwd: process.cwd()}).start({auth: 'none', command, cwd, provider: 'local'})
process.stdout.write(JSON.stringify({...result.row, share_url: result.shareUrl}) + '\n')
