// The migration history: every down.sql returns the database exactly to its state before the
// migration, the generated migrations are what Prisma Migrate generates from the schema now,
// and the history as a whole matches prisma/schema.prisma (no drift).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'

import { snapshotCatalog } from './helpers/catalog.ts'
import { createTestDatabase, type TestDatabase } from './helpers/db.ts'
import { migrationFile, migrationFolders, runScript } from './helpers/migrations.ts'
import { STAGES, generatedHistory, projectDir } from './helpers/schema-stages.ts'

const run = promisify(execFile)
const EXPECTED = [...STAGES.map((s) => s.folder), '006_add_updated_at_triggers', '007_add_database_rules']

let db: TestDatabase

before(async () => {
  db = await createTestDatabase('schema_history')
})

after(async () => {
  await db?.drop()
})

test('the history is the seed order: one migration per table, then triggers, then rules', () => {
  assert.deepEqual(migrationFolders(), EXPECTED)
})

test('each migration: apply, roll back to the exact previous catalog, apply again; then all the way down', async () => {
  const snapshots: string[][] = []
  for (const folder of migrationFolders()) {
    const beforeUp = await snapshotCatalog(db.url)
    snapshots.push(beforeUp)
    await runScript(db.url, migrationFile(folder, 'migration.sql'))
    const afterUp = await snapshotCatalog(db.url)
    assert.notDeepEqual(afterUp, beforeUp, `${folder} changed nothing`)
    await runScript(db.url, migrationFile(folder, 'down.sql'))
    assert.deepEqual(await snapshotCatalog(db.url), beforeUp, `${folder}/down.sql did not restore the previous state`)
    await runScript(db.url, migrationFile(folder, 'migration.sql'))
    assert.deepEqual(await snapshotCatalog(db.url), afterUp, `${folder} re-applied differs`)
  }
  for (const [i, folder] of [...migrationFolders().entries()].reverse()) {
    await runScript(db.url, migrationFile(folder, 'down.sql'))
    assert.deepEqual(await snapshotCatalog(db.url), snapshots[i], `${folder}/down.sql (from the full schema) did not restore the previous state`)
  }
  assert.deepEqual(snapshots[0], [], 'the test database started empty')
})

test('001-005 are exactly what Prisma Migrate generates from the staged schema (regenerate: tsx test/helpers/schema-stages.ts --write)', { timeout: 10 * 60_000 }, async () => {
  for (const m of await generatedHistory()) {
    assert.equal(migrationFile(m.folder, 'migration.sql'), m.up, `${m.folder}/migration.sql`)
    assert.equal(migrationFile(m.folder, 'down.sql'), m.down, `${m.folder}/down.sql`)
  }
})

test('no drift: prisma migrate diff --from-migrations prisma/migrations --to-schema prisma/schema.prisma --exit-code', { timeout: 5 * 60_000 }, async () => {
  const args = ['prisma', 'migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema', 'prisma/schema.prisma', '--exit-code']
  const result = await run('npx', args, { cwd: projectDir, env: { ...process.env, DATABASE_URL: db.url } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  )
  assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`)
  assert.match(result.stdout, /No difference detected|empty migration/i)
})
