// Generated down.sql files (src/migrate/down.ts): the rollback hook on a
// migration without one, what the engine cannot undo named in an incomplete
// stub that rollbacks refuse, `?schema=`, and the pure helpers.
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { copyFixture, ROOT, runCli } from './fixtures/cli.ts'
import { deploy, nextMigrationName } from '../src/migrate/index.ts'
import { findDataChanges, withoutSchemaQualifier, withoutTransactionControl, withRenames } from '../src/migrate/down.ts'

const engineReady = existsSync(path.join(ROOT, 'bin', 'schema-engine.mjs'))

describe('helpers', () => {
  test('nextMigrationName sorts after every folder: numbered after numbers, timestamped after a `migrate dev` folder', () => {
    const now = new Date('2026-12-02T12:00:00Z')
    assert.equal(nextMigrationName(['001_a', '007_b'], 'c', now), '008_c')
    assert.equal(nextMigrationName(['001_a', '007_b', '20261202110000_x'], 'c', now), '20261202120000_c')
    // A clock behind the last folder's still sorts after it.
    assert.equal(nextMigrationName(['007_b', '20270101000000_x'], 'c', now), '20270101000001_c')
    assert.throws(() => nextMigrationName(['998_a', '999_b'], 'c', now), /`1000_c` would sort before `999_b`/)
  })

  test('withRenames turns Prisma\'s drop-and-add of one column into RENAME COLUMN, nothing else', () => {
    const sql = '-- AlterTable\nALTER TABLE "groups" DROP COLUMN "description",\nADD COLUMN     "details" TEXT;\n\nALTER TABLE "t" DROP COLUMN "a",\nADD COLUMN     "b" TEXT,\nADD COLUMN     "c" TEXT;\nALTER TABLE "t" ADD COLUMN "d" TEXT;\n'
    const r = withRenames(sql)
    assert.deepEqual(r.renames, [{ table: 'groups', from: 'description', to: 'details' }])
    assert.equal(r.sql, '-- AlterTable\nALTER TABLE "groups" RENAME COLUMN "description" TO "details";\n\nALTER TABLE "t" DROP COLUMN "a",\nADD COLUMN     "b" TEXT,\nADD COLUMN     "c" TEXT;\nALTER TABLE "t" ADD COLUMN "d" TEXT;\n')
  })

  test('schema qualifiers, transaction control and data changes', () => {
    assert.equal(withoutSchemaQualifier('ALTER TABLE "app"."users" DROP COLUMN "x"; -- "app"."y"', 'app'), 'ALTER TABLE "users" DROP COLUMN "x"; -- "y"')
    assert.equal(withoutSchemaQualifier('DROP TABLE "public"."users";', 'app'), 'DROP TABLE "public"."users";')
    assert.equal(withoutTransactionControl('BEGIN;\nCREATE TYPE "x_new" AS ENUM (\'a\');\nCOMMIT;\n'), '\nCREATE TYPE "x_new" AS ENUM (\'a\');\n\n')
    assert.deepEqual(findDataChanges("ALTER TABLE t ADD c int;\n-- UPDATE in a comment\nUPDATE t SET c = 0;\nCREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DELETE FROM t $$;\nINSERT INTO t VALUES (1);"), [
      { line: 3, text: 'UPDATE t SET c = 0' },
      { line: 5, text: 'INSERT INTO t VALUES (1)' },
    ])
  })
})

describe('rollback of a migration without down.sql', { skip: !engineReady && 'needs the schema engine stand-in' }, () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('down_gen')
  })
  after(async () => {
    await db.drop()
  })

  test('what the engine cannot undo is named in an incomplete down.sql, and the rollback refuses (exit 1, nothing undone)', async () => {
    const fx = copyFixture('basic')
    try {
      mkdirSync(path.join(fx.dir, '004_add_scores'))
      writeFileSync(
        path.join(fx.dir, '004_add_scores', 'migration.sql'),
        'ALTER TABLE users ADD COLUMN score INTEGER;\nUPDATE users SET score = 0;\nCREATE FUNCTION users_total_score() RETURNS bigint LANGUAGE sql AS $$ SELECT sum(score) FROM users $$;\n',
      )
      await deploy({ url: db.url, migrationsDir: fx.dir })
      await query(db.url, `INSERT INTO users (email, score) VALUES ('a@x', 3)`)
      const r = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 1, r.stdout + r.stderr)
      const downFile = path.relative(ROOT, path.join(fx.dir, '004_add_scores', 'down.sql'))
      assert.deepEqual(r.err, [
        `Error: Cannot roll back \`004_add_scores\`: the generated \`${downFile}\` is incomplete; the engine cannot undo everything this migration does.`,
        '    migration.sql line 2 changes data (`UPDATE users SET score = 0`): decide whether the down must restore it',
        '    after the down, function `users_total_score()` is left over (not there before)',
        `Hint: Complete ${downFile} and remove its \`migrate:incomplete\` line, then run \`npm run migrate:verify\``,
      ])
      const down = readFileSync(path.join(fx.dir, '004_add_scores', 'down.sql'), 'utf8')
      assert.match(down, /^-- migrate:incomplete: complete this file by hand, then delete this line\.\n/)
      assert.match(down, /^--   - after the down, function `users_total_score\(\)` is left over/m)
      assert.match(down, /^ALTER TABLE "users" DROP COLUMN "score";$/m)
      assert.ok(r.out.includes(`Saved ${downFile} (review and commit it):`), r.stdout)
      // Nothing was undone; a second attempt refuses the stub without generating again.
      assert.deepEqual(await query(db.url, `SELECT score FROM users`), [{ score: 3 }])
      assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM _prisma_migrations WHERE migration_name = '004_add_scores'`), [{ n: 1 }])
      const again = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(again.code, 1)
      assert.equal(again.err[0], `Error: Cannot roll back \`004_add_scores\`: \`${downFile}\` is a stub that was never completed.`)
      assert.equal(readFileSync(path.join(fx.dir, '004_add_scores', 'down.sql'), 'utf8'), down)
    } finally {
      fx.remove()
    }
  })

  test('with ?schema=app the generated down.sql names no schema and the rollback runs in app', async () => {
    const fx = copyFixture('basic')
    try {
      mkdirSync(path.join(fx.dir, '20261202120000_add_bio'))
      writeFileSync(path.join(fx.dir, '20261202120000_add_bio', 'migration.sql'), '-- AlterTable\nALTER TABLE "users" ADD COLUMN "bio" TEXT;\n')
      const url = `${db.url}?schema=app`
      await query(db.url, 'CREATE SCHEMA app')
      await deploy({ url, migrationsDir: fx.dir })
      const r = await runCli(['migrate:rollback'], { url, migrationsDir: fx.dir })
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.ok(r.out.includes('  | ALTER TABLE "users" DROP COLUMN "bio";'), r.stdout)
      assert.ok(r.out.some((l) => /^Rolled back: 20261202120000_add_bio in \d+ms$/.test(l)), r.stdout)
      assert.doesNotMatch(readFileSync(path.join(fx.dir, '20261202120000_add_bio', 'down.sql'), 'utf8'), /"(app|public)"\./)
      assert.deepEqual(await query(db.url, `SELECT table_schema, column_name FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bio'`), [])
      assert.deepEqual(await query(db.url, `SELECT migration_name FROM app._prisma_migrations WHERE rolled_back_at IS NOT NULL`), [{ migration_name: '20261202120000_add_bio' }])
    } finally {
      fx.remove()
    }
  })
})
