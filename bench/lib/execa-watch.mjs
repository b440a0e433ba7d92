// Preloaded with NODE_OPTIONS=--import=<this file> (inherited by every node process a start spawns): appends
// "<script> imports execa" to $EXECA_WATCH_FILE for each `import 'execa'`, to check which processes load it (issue 14).
import {register} from 'node:module'

if (process.env.EXECA_WATCH_FILE) {
  register('./execa-watch-hooks.mjs', import.meta.url, {data: {file: process.env.EXECA_WATCH_FILE, who: process.argv[1] ?? '?'}})
}
