#!/usr/bin/env node
// Development entry: runs the TypeScript sources directly (needs `tsx`, installed on demand by npx).
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
