// `migrate:rollback` through the real CLI: plans, dry runs with data counts,
// every bad argument (exit 2, database untouched), and refusals.
import assert from 'node:assert/strict'
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { copyFixture, FIXTURES, runCli, stripTimes } from './fixtures/cli.ts'
import { deploy, diffCatalogs, snapshotCatalog } from '../src/migrate/index.ts'

const basic = path.join(FIXTURES, 'basic')
const applied = async (url: string): Promise<string[]> =>
  (await query<{ migration_name: string }>(url, `SELECT migration_name FROM _prisma_migrations WHERE rolled_back_at IS NULL ORDER BY migration_name`)).map((r) => r.migration_name)

describe('migrate:rollback', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_rollback')
  })
  after(async () => {
    await db.drop()
  })
  beforeEach(async () => {
    await deploy({ url: db.url, migrationsDir: basic })
  })

  test('default: the last applied migration', async () => {
    const r = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.out.slice(1).map(stripTimes), ['Plan: undo 003_create_posts', 'Rolled back: 003_create_posts in <n>ms', 'Done: 1 rolled back; latest applied is now `002_add_user_nickname`'])
    assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname'])
    assert.deepEqual(await query(db.url, `SELECT to_regclass('posts') AS p, to_regtype('post_status') AS t, to_regprocedure('set_updated_at()') AS f`), [{ p: null, t: null, f: null }])
  })

  test('--to by name without its number keeps that migration; --to the latest does nothing', async () => {
    const r = await runCli(['migrate:rollback', '--to=create_users'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.out.slice(1).map(stripTimes), [
      'Plan: undo 2 migrations in one transaction, newest first: 003_create_posts, 002_add_user_nickname',
      'Rolled back: 003_create_posts in <n>ms',
      'Rolled back: 002_add_user_nickname in <n>ms',
      'Done: 2 rolled back; latest applied is now `001_create_users`',
    ])
    assert.deepEqual(await applied(db.url), ['001_create_users'])
    const none = await runCli(['migrate:rollback', '--to', '001_create_users'], { url: db.url, migrationsDir: basic })
    assert.equal(none.code, 0)
    assert.equal(none.out.at(-1), 'Nothing to roll back: `001_create_users` is already the latest applied migration')
  })

  test('--dry-run prints plan, SQL and the rows that would be lost; changes nothing', async () => {
    await query(db.url, `INSERT INTO users (email, nickname) VALUES ('a@x', 'al'), ('b@x', NULL), ('c@x', 'cy')`)
    await query(db.url, `INSERT INTO posts (user_id, title) SELECT id, 'hello' FROM users`)
    const snap = await snapshotCatalog(db.url)
    const r = await runCli(['migrate:rollback', '--steps=2', '--dry-run'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.out.slice(1), [
      'Plan: undo 2 migrations in one transaction, newest first: 003_create_posts, 002_add_user_nickname',
      'Dry run: 2 migrations would be rolled back, in one transaction; nothing is changed',
      'Would roll back: 003_create_posts',
      '  SQL (test/fixtures/basic/003_create_posts/down.sql):',
      '    DROP TRIGGER posts_set_updated_at ON posts;',
      '    DROP FUNCTION set_updated_at();',
      '    DROP TABLE posts;',
      '    DROP TYPE post_status;',
      'Would roll back: 002_add_user_nickname',
      '  SQL (test/fixtures/basic/002_add_user_nickname/down.sql):',
      '    DROP INDEX users_nickname_idx;',
      '    ALTER TABLE users DROP COLUMN nickname;',
      'Would lose (measured by running the plan in a transaction that was rolled back):',
      '  table `posts`: dropped with 3 rows',
      '    non-null values: id 3, user_id 3, title 3, status 3, updated_at 3',
      '  column `users.nickname`: dropped with 2 non-null values (3 rows)',
      'After: latest applied would be `001_create_users`',
    ])
    assert.deepEqual(diffCatalogs(snap, await snapshotCatalog(db.url)), [])
    assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
  })

  test('bad arguments exit 2 with the fix, and touch nothing', async () => {
    const snap = await snapshotCatalog(db.url)
    const cases: Array<[string[], string, string]> = [
      [['--steps=0'], 'Error: `--steps` must be a whole number of at least 1, got `0`.', 'Hint: Example: `npm run migrate:rollback -- --steps=2`'],
      [['--steps=-1'], 'Error: `--steps` must be a whole number of at least 1, got `-1`.', 'Hint: Example: `npm run migrate:rollback -- --steps=2`'],
      [['--steps=abc'], 'Error: `--steps` must be a whole number of at least 1, got `abc`.', 'Hint: Example: `npm run migrate:rollback -- --steps=2`'],
      [['--steps=4'], 'Error: Cannot roll back 4 migrations: only 3 are applied.', 'Hint: Use `--steps=3` or fewer (or `npm run migrate:reset` to start over)'],
      [['--to=nope'], 'Error: No migration named `nope`.', 'Hint: Pick one from `npm run migrate:status`, e.g. `npm run migrate:rollback -- --to=001_create_users`'],
      [['--steps=1', '--to=001_create_users'], 'Error: `--steps` and `--to` cannot be used together.', 'Hint: Use one: `npm run migrate:rollback -- --steps=2` or `npm run migrate:rollback -- --to=<migration>`'],
      [['--stesp=2'], '! Unknown option `--stesp` for `migrate:rollback`.', 'Hint: Did you mean `--steps`? Run `npm run migrate:rollback -- --help` for usage'],
      [['2'], '! Unexpected argument `2`.', 'Hint: Write the value with `=`: `npm run migrate:rollback -- --steps=2`'],
    ]
    for (const [args, first, hint] of cases) {
      const r = await runCli(['migrate:rollback', ...args], { url: db.url, migrationsDir: basic })
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.err[0], first, args.join(' '))
      assert.ok(r.err.includes(hint), `${args.join(' ')}: ${r.stderr}`)
      assert.ok(!r.out.some((l) => l.startsWith('Rolling back')))
    }
    const fx = copyFixture('basic')
    try {
      for (const n of ['002_add_user_nickname', '003_create_posts']) rmSync(path.join(fx.dir, n), { recursive: true })
      for (const n of ['002_x', '003_x']) {
        const d = path.join(fx.dir, n)
        await import('node:fs').then((fs) => fs.mkdirSync(d))
        writeFileSync(path.join(d, 'migration.sql'), 'SELECT 1;\n')
      }
      const amb = await runCli(['migrate:rollback', '--to=x'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(amb.code, 2)
      assert.deepEqual(amb.err, ['Error: `--to=x` matches 2 migrations.', '    002_x', '    003_x', 'Hint: Use the full folder name, e.g. `npm run migrate:rollback -- --to=002_x`'])
    } finally {
      fx.remove()
    }
    assert.deepEqual(diffCatalogs(snap, await snapshotCatalog(db.url)), [])
    assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
  })

  test('refuses, touching nothing, when any step lacks down.sql, has a stub, or was edited', async () => {
    const snap = await snapshotCatalog(db.url)
    const fx = copyFixture('basic')
    try {
      // A missing down.sql is generated; 003's leaves its trigger function behind, so it is an incomplete stub.
      const down003 = path.join(fx.dir, '003_create_posts', 'down.sql')
      const original003 = readFileSync(down003, 'utf8')
      rmSync(down003)
      const noDown = await runCli(['migrate:rollback', '--steps=2'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(noDown.code, 1)
      assert.equal(noDown.err[0], `Error: Cannot roll back \`003_create_posts\`: the generated \`${path.relative(process.cwd(), fx.dir)}/003_create_posts/down.sql\` is incomplete; the engine cannot undo everything this migration does.`)
      assert.ok(noDown.err.includes('    after the down, function `set_updated_at()` is left over (not there before)'), noDown.stderr)
      assert.match(readFileSync(down003, 'utf8'), /^-- migrate:incomplete/)
      writeFileSync(down003, original003)
      writeFileSync(path.join(fx.dir, '002_add_user_nickname', 'down.sql'), '-- migrate:incomplete: write SQL that undoes migration.sql\n')
      const stub = await runCli(['migrate:rollback', '--steps=2'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(stub.code, 1)
      assert.match(stub.err[0]!, /is a stub that was never completed/)
      appendFileSync(path.join(fx.dir, '003_create_posts', 'migration.sql'), '-- edited\n')
      const edited = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(edited.code, 3)
      assert.equal(edited.err[0], 'Error: Cannot roll back `003_create_posts`: its migration.sql changed after it was applied, so down.sql may not undo what actually ran.')
    } finally {
      fx.remove()
    }
    assert.deepEqual(diffCatalogs(snap, await snapshotCatalog(db.url)), [])
    assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
  })

  test('a failing down.sql undoes the whole plan: earlier steps are not rolled back either', async () => {
    const fx = copyFixture('basic')
    try {
      writeFileSync(path.join(fx.dir, '002_add_user_nickname', 'down.sql'), 'DROP INDEX users_nickname_idx;\nALTER TABLE users DROP COLUMN no_such_column;\n')
      const r = await runCli(['migrate:rollback', '--steps=2'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 1)
      const rel = `${path.relative(process.cwd(), fx.dir)}/002_add_user_nickname/down.sql`
      assert.deepEqual(r.err, [
        'Error: Rolling back `002_add_user_nickname` failed: column "no_such_column" of relation "users" does not exist',
        `Failing statement (${rel}, line 2):`,
        '    ALTER TABLE users DROP COLUMN no_such_column',
        'Nothing was rolled back: the whole plan runs in one transaction, and it was rolled back.',
        `Hint: Fix ${rel}, then check the plan with \`npm run migrate:rollback -- --dry-run\``,
      ])
      assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
      assert.deepEqual(await query(db.url, `SELECT to_regclass('posts') IS NOT NULL AS posts`), [{ posts: true }])
      assert.deepEqual(await query(db.url, `SELECT to_regclass('users_nickname_idx') IS NOT NULL AS idx`), [{ idx: true }])
    } finally {
      fx.remove()
    }
  })
})
