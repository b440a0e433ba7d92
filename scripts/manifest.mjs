// Writes oclif.manifest.json so the CLI loads only the command it runs (oclif otherwise imports every command
// at start-up). Same output as `oclif manifest`, without pulling the whole oclif packaging toolchain in.
import {Plugin} from '@oclif/core'
import {writeFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const file = path.join(root, 'oclif.manifest.json')
rmSync(file, {force: true})
const plugin = new Plugin({errorOnManifestCreate: true, ignoreManifest: true, isRoot: true, respectNoCacheDefault: true, root, type: 'core'})
await plugin.load()
writeFileSync(file, JSON.stringify(plugin.manifest, null, 2) + '\n')
console.log(`wrote ${path.relative(process.cwd(), file)}: ${Object.keys(plugin.manifest.commands).length} commands`)
