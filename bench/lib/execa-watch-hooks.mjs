// The resolve hook of execa-watch.mjs (runs on the loader thread).
import {appendFileSync} from 'node:fs'

let file
let who
export function initialize(data) {
  file = data.file
  who = data.who
}

export async function resolve(specifier, context, next) {
  if (specifier === 'execa') appendFileSync(file, `${who} imports execa\n`)
  return next(specifier, context)
}
