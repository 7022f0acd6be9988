// The one exit-code table (src/cli/exit-codes.ts) against what people read:
// docs/cli.md's list, the main --help and every command's --help.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import { EXIT_CODES } from '../src/cli/exit-codes.ts'
import { ROOT, runCli } from './fixtures/cli.ts'

const COMMANDS = ['setup', 'migrate', 'migrate:status', 'migrate:rollback', 'migrate:reset', 'migrate:create', 'migrate:verify', 'migrate:lint', 'db:test', 'db:config', 'db:start', 'db:stop']

const helpSection = (lines: string[]): string[] => {
  const start = lines.indexOf('Exit codes')
  assert.ok(start >= 0, 'no Exit codes section')
  const rest = lines.slice(start + 1)
  const end = rest.indexOf('')
  return (end < 0 ? rest : rest.slice(0, end)).map((l) => l.trim())
}

test('docs/cli.md lists exactly the table: number, name, meaning', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'cli.md'), 'utf8')
  const section = doc.slice(doc.indexOf('## Exit codes'), doc.indexOf('\n## ', doc.indexOf('## Exit codes') + 1))
  const rows = [...section.matchAll(/^\| (\d+) \| `([A-Z_]+)` \| (.+) \|$/gm)].map((m) => ({ code: Number(m[1]), name: m[2], meaning: m[3] }))
  assert.deepEqual(rows, EXIT_CODES.map(({ code, name, meaning }) => ({ code, name, meaning })))
})

test('the main --help prints the table, each command --help only codes from it', async () => {
  const main = await runCli(['--help'])
  assert.equal(main.code, 0)
  assert.deepEqual(helpSection(main.out), EXIT_CODES.map((e) => `${e.code}  ${e.meaning}`))
  const known = new Set(EXIT_CODES.map((e) => String(e.code)))
  for (const c of COMMANDS) {
    const h = await runCli([c, '--help'])
    assert.equal(h.code, 0, c)
    const codes = helpSection(h.out).flatMap((l) => l.split(/ {2}/)[0]!.split(', '))
    assert.ok(codes.includes('0'), `${c}: no success code`)
    for (const code of codes) assert.ok(known.has(code), `${c}: exit code ${code} is not in the table`)
    assert.equal(new Set(codes).size, codes.length, `${c}: a code listed twice`)
  }
})

test('every library error ends in one exit code only', () => {
  const seen = new Map<string, number>()
  for (const e of EXIT_CODES) for (const err of e.errors) {
    assert.equal(seen.has(err), false, `${err} is in two rows`)
    seen.set(err, e.code)
  }
})
