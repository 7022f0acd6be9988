// `migrate`, `migrate:status`: real CLI processes on a fresh database,
// exact output and exit codes, database state checked with SQL.
import assert from 'node:assert/strict'
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { copyFixture, FIXTURES, ROOT, runCli, shownUrl, stripTimes } from './fixtures/cli.ts'
import { snapshotCatalog, diffCatalogs } from '../src/migrate/index.ts'

const basic = path.join(FIXTURES, 'basic')

describe('migrate and migrate:status', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_migrate')
  })
  after(async () => {
    await db.drop()
  })

  test('status on an empty database: all pending, exit 1; creates nothing', async () => {
    const r = await runCli(['migrate:status'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 1)
    assert.deepEqual(r.out, [
      `Database: ${shownUrl(db.url)} (DATABASE_URL from the environment)`,
      '[ ] 001_create_users       pending  down.sql',
      '[ ] 002_add_user_nickname  pending  down.sql',
      '[ ] 003_create_posts       pending  down.sql',
      'Applied: 0  Pending: 3',
      'Next: `npm run migrate` applies 3 pending migrations',
    ])
    assert.deepEqual(r.err, [])
    assert.equal((await query(db.url, `SELECT to_regclass('_prisma_migrations') AS t`))[0]!.t, null)
  })

  test('migrate prints each migration applied with its time; status is then up to date (exit 0)', async () => {
    const r = await runCli(['migrate'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.out.map(stripTimes), [
      `Database: ${shownUrl(db.url)} (DATABASE_URL from the environment)`,
      'Applying: 001_create_users',
      'Applied: 001_create_users in <n>ms',
      'Applying: 002_add_user_nickname',
      'Applied: 002_add_user_nickname in <n>ms',
      'Applying: 003_create_posts',
      'Applied: 003_create_posts in <n>ms',
      'Up to date: 3 migrations applied (<n> just now, <n>ms)',
    ])
    const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: basic })
    assert.equal(s.code, 0)
    assert.deepEqual(s.out.slice(1).map(stripTimes), [
      '[X] 001_create_users       applied <time>  down.sql',
      '[X] 002_add_user_nickname  applied <time>  down.sql',
      '[X] 003_create_posts       applied <time>  down.sql',
      'Applied: 3  Pending: 0',
    ])
    const again = await runCli(['migrate:run'], { url: db.url, migrationsDir: basic })
    assert.equal(again.code, 0)
    assert.equal(again.out.at(-1), 'Up to date: 3 migrations applied, none pending')
  })

  test('status --json, edited and missing-locally migrations (exit 3), no down.sql', async () => {
    const fx = copyFixture('basic')
    try {
      appendFileSync(path.join(fx.dir, '002_add_user_nickname', 'migration.sql'), '-- edited\n')
      rmSync(path.join(fx.dir, '003_create_posts'), { recursive: true })
      rmSync(path.join(fx.dir, '001_create_users', 'down.sql'))
      const r = await runCli(['migrate:status'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 3)
      assert.deepEqual(r.out.slice(1).map(stripTimes), [
        '[X] 001_create_users       applied <time>  no down.sql',
        '[X] 002_add_user_nickname  applied <time>  down.sql, EDITED since applied (checksum differs)',
        '[?] 003_create_posts       applied <time>  not in the migrations folder',
        'Applied: 3  Pending: 0  Edited: 1  Missing locally: 1',
        'Edited: `002_add_user_nickname` changed after being applied; restore the applied version (git) or create a new migration instead',
        'Missing: `003_create_posts` applied in the database but not in the migrations folder (another branch?)',
      ])
      const j = await runCli(['migrate:status', '--json'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(j.code, 3)
      const parsed = JSON.parse(j.stdout)
      assert.deepEqual(parsed.counts, { applied: 3, pending: 0, failed: 0, missingLocally: 1, edited: 1, outOfOrder: 0 })
      assert.deepEqual(parsed.migrations.map((m: { name: string; checksumMatches: boolean; hasDown: boolean }) => [m.name, m.checksumMatches, m.hasDown]), [
        ['001_create_users', true, false],
        ['002_add_user_nickname', false, true],
        ['003_create_posts', null, false],
      ])
      // A deploy refuses both, exactly as status reports them, before any statement: a new migration stays pending.
      mkdirSync(path.join(fx.dir, '004_new'))
      writeFileSync(path.join(fx.dir, '004_new', 'migration.sql'), 'CREATE TABLE new_after_edit (id INTEGER);\n')
      const d = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(d.code, 3, d.stderr)
      assert.deepEqual(d.err, [
        'Error: Applied migration `002_add_user_nickname` was edited after it was applied (its migration.sql no longer matches the recorded checksum); nothing was applied.',
        '    edited: 002_add_user_nickname',
        `Hint: Restore the applied version (\`git log -p -- ${path.relative(ROOT, path.join(fx.dir, '002_add_user_nickname', 'migration.sql'))}\`) and put the change in a new migration (\`npm run migrate:create -- --name <name>\`)`,
      ])
      writeFileSync(path.join(fx.dir, '002_add_user_nickname', 'migration.sql'), readFileSync(path.join(FIXTURES, 'basic', '002_add_user_nickname', 'migration.sql')))
      const m = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(m.code, 3, m.stderr)
      assert.deepEqual(m.err, [
        'Error: Applied migration `003_create_posts` is not in the migrations folder; nothing was applied.',
        '    applied, missing locally: 003_create_posts',
        'Hint: Restore its folder (another branch? `git status`), then run `npm run migrate`',
      ])
      assert.equal((await query(db.url, `SELECT to_regclass('new_after_edit') AS t`))[0]!.t, null)
    } finally {
      fx.remove()
    }
  })

  test('a pending migration ordered before an applied one is refused (exit 3), nothing applied', async () => {
    const fx = copyFixture('basic')
    try {
      const early = path.join(fx.dir, '0015_early')
      await import('node:fs').then((fs) => fs.mkdirSync(early))
      writeFileSync(path.join(early, 'migration.sql'), 'CREATE TABLE early (id INTEGER);\n')
      const r = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 3)
      assert.deepEqual(r.err, [
        'Error: Pending migration `0015_early` sorts before the applied migration `003_create_posts`.',
        '    pending, out of order: 0015_early',
        'Hint: Rename its folder so it sorts after `003_create_posts` (next number), then run `npm run migrate`',
      ])
      assert.equal((await query(db.url, `SELECT to_regclass('early') AS t`))[0]!.t, null)
    } finally {
      fx.remove()
    }
  })
})

describe('a failing migration', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_failing')
  })
  after(async () => {
    await db.drop()
  })

  test('leaves the database exactly as before it, names migration and statement, records it failed; deploys then refuse', async () => {
    const failing = path.join(FIXTURES, 'failing')
    const r = await runCli(['migrate'], { url: db.url, migrationsDir: failing })
    assert.equal(r.code, 1)
    assert.deepEqual(r.out.map(stripTimes).slice(1), ['Applying: 001_create_users', 'Applied: 001_create_users in <n>ms', 'Applying: 002_create_audit'])
    assert.deepEqual(r.err, [
      'Error: Migration `002_create_audit` failed and was rolled back (the database is as before it): column "no_such_column" does not exist',
      'Failing statement (test/fixtures/failing/002_create_audit/migration.sql, line 4):',
      '    SELECT no_such_column',
      '      FROM audit',
      'Hint: Fix test/fixtures/failing/002_create_audit/migration.sql, then `npx prisma migrate resolve --rolled-back 002_create_audit` and `npm run migrate`',
    ])
    // Nothing of 002 exists; 001 is applied; 002 is recorded as Prisma records a failure.
    assert.deepEqual(await query(db.url, `SELECT to_regclass('audit') AS a, to_regclass('never_created') AS b, to_regclass('users') IS NOT NULL AS u`), [{ a: null, b: null, u: true }])
    const rows = await query(db.url, `SELECT migration_name, finished_at IS NULL AS unfinished, rolled_back_at, applied_steps_count, logs LIKE '%no_such_column%' AS logged FROM _prisma_migrations ORDER BY started_at`)
    assert.deepEqual(rows, [
      { migration_name: '001_create_users', unfinished: false, rolled_back_at: null, applied_steps_count: 1, logged: null },
      { migration_name: '002_create_audit', unfinished: true, rolled_back_at: null, applied_steps_count: 0, logged: true },
    ])
    const snapshot = await snapshotCatalog(db.url)
    const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: failing })
    assert.equal(s.code, 3)
    assert.deepEqual(s.out.slice(1).map(stripTimes), [
      '[X] 001_create_users  applied <time>  down.sql',
      '[!] 002_create_audit  FAILED <time>   down.sql',
      'Applied: 1  Pending: 0  Failed: 1',
      'Failed: `002_create_audit` stops deploys (rolled back, database unchanged). Fix it, then `npx prisma migrate resolve --rolled-back 002_create_audit` and `npm run migrate`',
    ])
    const again = await runCli(['migrate'], { url: db.url, migrationsDir: failing })
    assert.equal(again.code, 3)
    assert.equal(again.err[0], 'Error: Migration `002_create_audit` failed earlier and is recorded as failed; no new migrations are applied until it is resolved (Prisma P3009).')
    assert.equal(again.err.at(-1), 'Hint: Fix its migration.sql, mark it rolled back with `npx prisma migrate resolve --rolled-back 002_create_audit`, then run `npm run migrate`')
    assert.deepEqual(diffCatalogs(snapshot, await snapshotCatalog(db.url)), [])
  })

  test('after `prisma migrate resolve --rolled-back` (its SQL: rolled_back_at set) and a fix, the rerun applies it', async () => {
    const fx = copyFixture('failing')
    try {
      writeFileSync(path.join(fx.dir, '002_create_audit', 'migration.sql'), 'CREATE TABLE audit (id INTEGER PRIMARY KEY);\n')
      // What `npx prisma migrate resolve --rolled-back 002_create_audit` writes (engine not required here).
      await query(db.url, `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '002_create_audit' AND finished_at IS NULL`)
      const r = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(r.out.slice(1, 3).map(stripTimes), ['Applying: 002_create_audit', 'Applied: 002_create_audit in <n>ms'])
      const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(s.code, 0)
    } finally {
      fx.remove()
    }
  })
})
