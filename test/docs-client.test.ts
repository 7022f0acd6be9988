// The snippets of docs/client.md's "Errors" and "Normalised input" sections, run as a
// reader would (a script next to package.json importing ./src/index.ts, DATABASE_URL set)
// against a freshly migrated database: each must exit 0 and print, in order, what its
// `// prints:` comments say. The rules table of "Errors" must name every rule.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { DATABASE_RULES, RAISED_CODES } from '../src/domain/rules.ts'
import { createTestDatabase, type TestDatabase } from './helpers/db.ts'
import { applyAllMigrations } from './helpers/migrations.ts'
import { ROOT, run } from './helpers/prisma.ts'

const SECTIONS = ['Errors', 'Normalised input']
const doc = readFileSync(join(ROOT, 'docs/client.md'), 'utf8')

/** The body of `## <title>`, up to the next `## ` heading. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`)
  assert.ok(start >= 0, `docs/client.md has a "## ${title}" section`)
  const end = doc.indexOf('\n## ', start + 1)
  return doc.slice(start, end < 0 ? undefined : end)
}

let db: TestDatabase
before(async () => {
  db = await createTestDatabase('docs_client')
  await applyAllMigrations(db.url)
})
after(() => db?.drop())

test('the rules table of "Errors" names every rule of src/domain/rules.ts', () => {
  const text = section('Errors')
  const missing = [...Object.keys(DATABASE_RULES), ...Object.values(RAISED_CODES).map((r) => r.rule)].filter((r) => !text.includes(`\`${r}\``))
  assert.deepEqual(missing, [])
})

for (const title of SECTIONS) {
  const blocks = [...section(title).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
  test(`docs/client.md "${title}": ${blocks.length} snippet(s) run and print what they say`, async () => {
    assert.ok(blocks.length > 0)
    for (const code of blocks) {
      const expected = [...code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1]!.trim())
      // Inside the project, as the reader's own script would be; the pool is closed after the snippet.
      const file = join(ROOT, `.docs-snippet-${randomBytes(4).toString('hex')}.ts`)
      writeFileSync(file, `${code}\nimport { pool as __pool, prisma as __prisma } from './src/index.ts'\nawait __prisma.$disconnect()\nawait __pool.end()\n`)
      try {
        const r = await run(process.execPath, ['--import', 'tsx', file], { env: { DATABASE_URL: db.url } })
        assert.equal(r.code, 0, `snippet failed:\n${code}\n${r.stderr}`)
        assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim()), expected, `output of:\n${code}`)
      } finally {
        rmSync(file, { force: true })
      }
    }
  })
}
