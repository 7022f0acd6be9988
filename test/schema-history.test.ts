// The migration history: every down.sql returns the database exactly to its state before the
// migration, the generated migrations are what Prisma Migrate generates from the schema now,
// and the history as a whole matches prisma/schema.prisma (no drift). The catalog comparison
// is the library's (the one `migrate:verify` uses), and is itself shown to catch mistakes.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'

import pg from 'pg'

import { describeDifference, diffCatalogs, snapshotCatalog, type CatalogSnapshot } from '../src/migrate/index.ts'
import { runStandalone } from '../src/migrate/runner.ts'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { applyAllMigrations, migrationFile, migrationFolders, runScript } from './helpers/migrations.ts'
import { PRISMA_CLI, STAGES, generatedHistory, projectDir } from './helpers/schema-stages.ts'

const run = promisify(execFile)

let db: TestDatabase

before(async () => {
  db = await createTestDatabase('schema_history')
})

after(async () => {
  await db?.drop()
})

/** Each difference as `migrate:verify` would print it: empty when the catalogs match. */
const differences = (from: CatalogSnapshot, to: CatalogSnapshot) => diffCatalogs(from, to).map(describeDifference)

test('the history is numbered 001, 002, … without gaps, each with both files, and opens with one migration per table', () => {
  const folders = migrationFolders()
  assert.ok(folders.length > STAGES.length, 'later migrations follow the table stages')
  folders.forEach((folder, i) => {
    assert.match(folder, /^\d{3}_[a-z][a-z0-9_]*$/, `${folder}: NNN_snake_case_name`)
    assert.equal(Number(folder.slice(0, 3)), i + 1, `${folder}: expected number ${String(i + 1).padStart(3, '0')}`)
    for (const file of ['migration.sql', 'down.sql'] as const) assert.ok(migrationFile(folder, file).trim() !== '', `${folder}/${file} is empty`)
  })
  // The seed order: the tables' migrations come first, in the order their foreign keys need.
  assert.deepEqual(folders.slice(0, STAGES.length), STAGES.map((s) => s.folder))
})

test('each migration: apply, roll back to the exact previous catalog, apply again; then all the way down', async () => {
  const snapshots: CatalogSnapshot[] = []
  for (const folder of migrationFolders()) {
    const beforeUp = await snapshotCatalog(db.url)
    snapshots.push(beforeUp)
    await runScript(db.url, migrationFile(folder, 'migration.sql'))
    const afterUp = await snapshotCatalog(db.url)
    assert.notDeepEqual(differences(beforeUp, afterUp), [], `${folder} changed nothing`)
    await runScript(db.url, migrationFile(folder, 'down.sql'))
    assert.deepEqual(differences(beforeUp, await snapshotCatalog(db.url)), [], `${folder}/down.sql did not restore the previous state`)
    await runScript(db.url, migrationFile(folder, 'migration.sql'))
    assert.deepEqual(differences(afterUp, await snapshotCatalog(db.url)), [], `${folder} re-applied differs`)
  }
  for (const [i, folder] of [...migrationFolders().entries()].reverse()) {
    await runScript(db.url, migrationFile(folder, 'down.sql'))
    assert.deepEqual(differences(snapshots[i]!, await snapshotCatalog(db.url)), [], `${folder}/down.sql (from the full schema) did not restore the previous state`)
  }
  assert.deepEqual([...snapshots[0]!.keys()], [], 'the test database started empty')
})

/**
 * What leaving out a down.sql statement leaves behind, as the catalog snapshot keys it: an
 * object still there (`added`), a column still NOT NULL (`changed`), or storage parameters
 * (`reloptions`, which the snapshot does not hold: the test reads pg_class itself).
 */
function droppedObject(statement: string): { object: string; change: 'added' | 'changed' } | { reloptions: string } {
  const id = String.raw`"?(\w+)"?`
  let m: RegExpMatchArray | null
  if ((m = statement.match(new RegExp(`^ALTER TABLE ${id} DROP CONSTRAINT ${id};$`)))) return { object: `constraint ${m[1]}.${m[2]}`, change: 'added' }
  if ((m = statement.match(new RegExp(`^ALTER TABLE ${id} DROP COLUMN ${id};$`)))) return { object: `column ${m[1]}.${m[2]}`, change: 'added' }
  if ((m = statement.match(new RegExp(`^ALTER TABLE ${id} ALTER COLUMN ${id} DROP NOT NULL;$`)))) return { object: `column ${m[1]}.${m[2]}`, change: 'changed' }
  if ((m = statement.match(new RegExp(`^ALTER TABLE ${id} RESET \\(\\w+\\);$`)))) return { reloptions: m[1]! }
  if ((m = statement.match(new RegExp(`^DROP TRIGGER ${id} ON ${id};$`)))) return { object: `trigger ${m[2]}.${m[1]}`, change: 'added' }
  if ((m = statement.match(new RegExp(`^DROP (TABLE|TYPE|INDEX|FUNCTION) ${id}(\\([\\w ,]*\\))?;$`)))) return { object: `${m[1]!.toLowerCase()} ${m[2]}${m[3] ?? ''}`, change: 'added' }
  throw new Error(`down.sql statement of an unknown form (teach droppedObject() about it): ${statement}`)
}

const reloptions = async (client: pg.Client, table: string) =>
  ((await client.query('SELECT reloptions FROM pg_class WHERE oid = $1::regclass', [table])).rows[0] as { reloptions: string[] | null }).reloptions

test('the comparison catches a forgotten DROP: each statement of each down.sql left out in turn is named (or the down fails, or a later DROP TABLE covers it)', async (t) => {
  const scratch = await createTestDatabase('schema_history_mut')
  const client = new pg.Client({ connectionString: scratch.url })
  await client.connect()
  let named = 0
  let refused = 0
  let redundant = 0
  try {
    for (const folder of migrationFolders()) {
      // 010's down.sql is not a list of drops: it renames and moves rows back into one table
      // (plpgsql loops over runtime partitions). The round trip above checks it to the exact
      // previous catalog, and migrate:verify on seeded data.
      if (folder === '010_partition_messages') continue
      const up = migrationFile(folder, 'migration.sql')
      const lines = migrationFile(folder, 'down.sql').split('\n')
      const drops = lines.flatMap((line, i) => (/^\s*(DROP|ALTER)\b/i.test(line) ? [i] : []))
      assert.ok(drops.length > 0, `${folder}/down.sql drops nothing`)
      const beforeUp = await snapshotCatalog(client)
      const cases = drops.map((i) => ({ statement: lines[i]!.trim(), without: lines.filter((_, j) => j !== i).join('\n') }))
      const parameters = new Map<string, string[] | null>()
      for (const { statement } of cases) {
        const dropped = droppedObject(statement)
        if ('reloptions' in dropped) parameters.set(dropped.reloptions, await reloptions(client, dropped.reloptions))
      }
      // Up once, as a deploy runs it (a no-transaction migration cannot run inside BEGIN); each
      // crippled down then runs in a transaction that is rolled back, so every case starts here.
      await runStandalone(client, `${folder}/migration.sql`, up)
      for (const { statement, without } of cases) {
        const dropped = droppedObject(statement)
        await client.query('BEGIN')
        try {
          if ('reloptions' in dropped) {
            await client.query(without)
            assert.notDeepEqual(await reloptions(client, dropped.reloptions), parameters.get(dropped.reloptions), `${folder}/down.sql without \`${statement}\`: storage parameters restored anyway`)
            named++
            continue
          }
          const { object, change } = dropped
          assert.ok((await snapshotCatalog(client)).has(object), `${folder} creates no ${object}`)
          try {
            await client.query(without)
          } catch (err) {
            // A later statement that needs this one gone (a table still using the type) refuses: caught too.
            assert.equal((err as { code?: string }).code, '2BP01', `${folder}/down.sql without \`${statement}\`: ${String(err)}`)
            refused++
            continue
          }
          const found = diffCatalogs(beforeUp, await snapshotCatalog(client))
          const table = object.match(/^constraint (\w+)\./)?.[1]
          if (found.length === 0 && table && lines.some((l) => new RegExp(`^DROP TABLE "?${table}"?;`).test(l.trim()))) {
            // Not a mistake: Prisma drops foreign keys first, but the DROP TABLE below takes them along anyway.
            redundant++
            continue
          }
          assert.ok(
            found.some((d) => d.change === change && `${d.kind} ${d.name}` === object),
            `${folder}/down.sql without \`${statement}\`: ${object} not named; found: ${found.map(describeDifference).join('; ') || 'nothing'}`,
          )
          named++
        } finally {
          await client.query('ROLLBACK')
        }
      }
    }
  } finally {
    await client.end()
    await scratch.drop()
  }
  t.diagnostic(`left out in turn: ${named} named by the comparison, ${refused} refused by PostgreSQL, ${redundant} redundant (a later DROP TABLE covers them)`)
  assert.ok(named > 50, `only ${named} cases reached the comparison`)
})

test('the comparison also sees column order, comments, trigger state, sequence ownership and extensions', async (t) => {
  const scratch = await createTestDatabase('schema_history_kinds')
  const client = new pg.Client({ connectionString: scratch.url })
  await client.connect()
  try {
    await applyAllMigrations(scratch.url)
    const full = await snapshotCatalog(client)
    const [citext] = await query(scratch.url, `SELECT 1 FROM pg_available_extensions WHERE name = 'citext'`)
    const cases: Array<[string, string, string]> = [
      // Dropped and added back the same: only the position changed.
      ['column moved', 'ALTER TABLE users DROP COLUMN name; ALTER TABLE users ADD COLUMN name VARCHAR(255) NOT NULL', 'table users'],
      ['comment added on a column', `COMMENT ON COLUMN users.email IS 'normalized'`, 'comment column users.email'],
      ['comment changed on a function', `COMMENT ON FUNCTION set_updated_at() IS 'other'`, 'comment function set_updated_at()'],
      ['trigger disabled', 'ALTER TABLE users DISABLE TRIGGER users_set_updated_at', 'trigger users.users_set_updated_at'],
      ['sequence no longer owned by its column', 'ALTER SEQUENCE users_id_seq OWNED BY NONE', 'sequence users_id_seq'],
      ...(citext ? [['extension left over', 'CREATE EXTENSION citext', 'extension citext'] as [string, string, string]] : []),
    ]
    if (!citext) t.diagnostic('citext is not available on this server: the extension case is not run')
    for (const [label, sql, object] of cases) {
      await client.query('BEGIN')
      try {
        await client.query(sql)
        const found = diffCatalogs(full, await snapshotCatalog(client))
        // Exactly that object: nothing else differs, so nothing else may be named.
        assert.deepEqual(found.map((d) => `${d.kind} ${d.name}`), [object], `${label}: ${found.map(describeDifference).join('; ') || 'nothing found'}`)
      } finally {
        await client.query('ROLLBACK')
      }
    }
    assert.deepEqual(differences(full, await snapshotCatalog(client)), [], 'every case was rolled back')
  } finally {
    await client.end()
    await scratch.drop()
  }
})

test('001-005 are exactly what Prisma Migrate generates from the staged schema (regenerate: tsx test/helpers/schema-stages.ts --write)', { timeout: 10 * 60_000 }, async () => {
  for (const m of await generatedHistory()) {
    assert.equal(migrationFile(m.folder, 'migration.sql'), m.up, `${m.folder}/migration.sql`)
    assert.equal(migrationFile(m.folder, 'down.sql'), m.down, `${m.folder}/down.sql`)
  }
})

test('no drift: prisma migrate diff --from-migrations prisma/migrations --to-schema prisma/schema.prisma --exit-code', { timeout: 5 * 60_000 }, async () => {
  const args = ['migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema', 'prisma/schema.prisma', '--exit-code']
  const result = await run(PRISMA_CLI, args, { cwd: projectDir, env: { ...process.env, DATABASE_URL: db.url } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  )
  assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`)
  assert.match(result.stdout, /No difference detected|empty migration/i)
})
