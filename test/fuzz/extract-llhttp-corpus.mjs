#!/usr/bin/env node
// Mines llhttp's own request tests (test/request/*.md in nodejs/llhttp, MIT) for the fuzzer's corpus: each ```http
// block, decoded the way llhttp's md-test.ts decodes it (newlines become CRLF, \r \n \t \f \xNN escapes), is written
// to llhttp-corpus.json next to this script. Blocks that run inline JavaScript (${...}) are left out.
//
//   node test/fuzz/extract-llhttp-corpus.mjs <llhttp checkout> <commit>
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const [root, commit = 'unknown'] = process.argv.slice(2)
if (!root) throw new Error('usage: extract-llhttp-corpus.mjs <llhttp checkout> <commit>')
const dir = path.join(root, 'test', 'request')
const cases = []
for (const file of readdirSync(dir).filter((f) => f.endsWith('.md')).sort()) {
  const text = readFileSync(path.join(dir, file), 'utf8')
  for (const m of text.matchAll(/<!-- meta=(\{.*?\}) -->\n```http\n([\s\S]*?)```/g)) {
    let input = m[2]
    if (input.includes('${')) continue
    input = input.replace(/\n$/, '').replaceAll(/\\(\r\n|\r|\n)/g, '').replaceAll(/\r\n|\r|\n/g, '\r\n')
    input = input.replaceAll('\\r', '\r').replaceAll('\\n', '\n').replaceAll('\\t', '\t').replaceAll('\\f', '\f')
    input = input.replaceAll(/\\x([0-9a-fA-F]+)/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)))
    input = input.replaceAll(/\\([0-7]{1,3})/g, (_, digits) => String.fromCharCode(Number.parseInt(digits, 8)))
    cases.push({file, input, meta: JSON.parse(m[1])})
  }
}

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'llhttp-corpus.json')
writeFileSync(
  out,
  `${JSON.stringify({cases: cases.map((c) => c.input), license: 'MIT, Copyright (c) 2018 Fedor Indutny', source: `nodejs/llhttp@${commit} test/request/*.md`}, null, 1)}\n`,
)
console.log(`${cases.length} requests -> ${out}`)
