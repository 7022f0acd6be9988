// verify, reset, create, db:test, help: real CLI processes, exact output.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { copyFixture, FIXTURES, ROOT, runCli, serverAddress, shownUrl, stripTimes } from './fixtures/cli.ts'
import { deploy } from '../src/migrate/index.ts'

const basic = path.join(FIXTURES, 'basic')
// The schema engine stand-in, as prisma.config.ts names it.
const engineBin = path.join(ROOT, 'bin', 'schema-engine.mjs')

describe('commands', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_cmds')
  })
  after(async () => {
    await db.drop()
  })
  // The engine's shadow databases and the down's round-trip database.
  const leftoverShadowDbs = async () => (await query(db.url, `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2`, [`prisma_shadow_${db.name.slice(0, 36)}_%`, `${db.name}_down_%`])).length
  const leftoverVerifyDbs = async () => (await query(db.url, `SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${db.name}_verify_%`])).length

  test('migrate:verify passes the basic history on a throwaway database, never the user\'s', async () => {
    const r = await runCli(['migrate:verify'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.out[1]!, new RegExp(`^Using: throwaway database ${db.name}_verify_[0-9a-f]{8} \\(dropped afterwards\\)$`))
    assert.deepEqual(r.out.slice(2).map(stripTimes), ['Verified: 001_create_users in <n>ms', 'Verified: 002_add_user_nickname in <n>ms', 'Verified: 003_create_posts in <n>ms', 'Done: 3 of 3 migrations verified (up, down, up)'])
    assert.equal(await leftoverVerifyDbs(), 0)
    assert.deepEqual(await query(db.url, `SELECT to_regclass('_prisma_migrations') AS t, to_regclass('users') AS u`), [{ t: null, u: null }])
  })

  test('migrate:verify names what a wrong down.sql leaves behind (exit 1)', async () => {
    const r = await runCli(['migrate:verify'], { url: db.url, migrationsDir: path.join(FIXTURES, 'verify-broken') })
    assert.equal(r.code, 1)
    assert.deepEqual(r.out.slice(2), [
      'Problem: 001_create_things',
      '  after down: function `thing_count()` is left over (not there before)',
      'Problem: 002_add_thing_label',
      "  after down: column `things.label` is left over (not there before)",
      '  up again after down failed: column "label" of relation "things" already exists',
      '    at test/fixtures/verify-broken/002_add_thing_label/migration.sql line 1:',
      "      ALTER TABLE things ADD COLUMN label TEXT DEFAULT 'none'",
      'Done: 0 verified, 2 with problems (stopped early: a migration could not be applied)',
    ])
    assert.equal(await leftoverVerifyDbs(), 0)
  })

  test('migrate:reset refuses without a terminal unless --force (exit 7, nothing dropped, what it would drop listed); --force --skip-seed rebuilds', async () => {
    await deploy({ url: db.url, migrationsDir: basic })
    await query(db.url, `INSERT INTO users (email) VALUES ('keep@x')`)
    const refused = await runCli(['migrate:reset'], { url: db.url, migrationsDir: basic })
    assert.equal(refused.code, 7)
    assert.deepEqual(refused.err, [
      `Error: Refusing to reset without confirmation: no terminal to ask on. This would drop schema \`public\` of database \`${db.name}\` on \`${serverAddress(db.url)}\` with all its data. Nothing was changed.`,
      'Data that would be lost:',
      '    table `posts`: dropped with 0 rows',
      '    table `users`: dropped with 1 row',
      '      non-null values: id 1, email 1, created_at 1',
      'Hint: See the plan with `npm run migrate:reset -- --dry-run`; to go ahead and lose this data: `npm run migrate:reset -- --force`',
    ])
    assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM users`), [{ n: 1 }])
    const r = await runCli(['migrate:reset', '--force', '--skip-seed'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.out.slice(1).map(stripTimes), [
      'Dropped: schema public (all tables and data)',
      'Applying: 001_create_users', 'Applied: 001_create_users in <n>ms',
      'Applying: 002_add_user_nickname', 'Applied: 002_add_user_nickname in <n>ms',
      'Applying: 003_create_posts', 'Applied: 003_create_posts in <n>ms',
      'Lost:',
      '  table `users`: dropped with 1 row',
      '    non-null values: id 1, email 1, created_at 1',
      'Done: schema public recreated, 3 migrations applied',
    ])
    assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM users`), [{ n: 0 }])
    // The recreated schema keeps its owner and grants.
    assert.deepEqual(await query(db.url, `SELECT pg_get_userbyid(nspowner) AS owner, has_schema_privilege('public', 'public', 'USAGE') AS usage FROM pg_namespace WHERE nspname = 'public'`), [{ owner: 'pg_database_owner', usage: true }])
  })

  test('migrate:create --empty writes the next number with a stub down.sql that status flags', async () => {
    await deploy({ url: db.url, migrationsDir: basic })
    const fx = copyFixture('basic')
    try {
      const bad = await runCli(['migrate:create', '--name', 'AddStuff', '--empty'], { migrationsDir: fx.dir })
      assert.equal(bad.code, 2)
      assert.deepEqual(bad.err, ['Error: Migration name `AddStuff` is not snake_case (lowercase letters, digits, single underscores, starting with a letter).', 'Hint: Example: `npm run migrate:create -- --name addstuff`'])
      const missing = await runCli(['migrate:create', '--empty'], { migrationsDir: fx.dir })
      assert.equal(missing.code, 2)
      assert.equal(missing.err[0], 'Error: `--name` is required.')
      const r = await runCli(['migrate:create', '--name', 'backfill_emails', '--empty'], { migrationsDir: fx.dir })
      assert.equal(r.code, 0, r.stderr)
      const rel = path.relative(ROOT, fx.dir)
      assert.deepEqual(r.out, [
        `Created: ${rel}/004_backfill_emails`,
        '  migration.sql',
        '  down.sql',
        'By hand: migration.sql and down.sql are empty: write both by hand, then run `npm run migrate:verify`',
        'Lint: 1 migration with squawk 2.66.0; big tables: messages, subscribers; no database configured, no live row estimates',
        'Next: review both files, then `npm run migrate:lint`, `npm run migrate:verify` and `npm run migrate`',
      ])
      assert.deepEqual(readdirSync(path.join(fx.dir, '004_backfill_emails')).sort(), ['down.sql', 'migration.sql'])
      assert.match(readFileSync(path.join(fx.dir, '004_backfill_emails', 'down.sql'), 'utf8'), /migrate:incomplete/)
      const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(s.out.at(-3), `[ ] 004_backfill_emails    ${'pending'.padEnd('applied 2000-01-01 00:00:00Z'.length)}  down.sql incomplete`)
      const dup = await runCli(['migrate:create', '--name', 'backfill_emails', '--empty'], { migrationsDir: fx.dir })
      assert.equal(dup.code, 2)
      assert.equal(dup.err[0], 'Error: A migration named `backfill_emails` already exists: `004_backfill_emails`.')
    } finally {
      fx.remove()
    }
  })

  test('migrate:create from schema.prisma changes writes up and down that verify; unchanged schema creates nothing (on the schema engine stand-in)', async () => {
    const fx = copyFixture('create')
    try {
      const migrations = path.join(fx.dir, 'migrations')
      const same = await runCli(['migrate:create', '--name', 'nothing', `--schema=${path.join(fx.dir, 'schema.prisma')}`], { url: db.url, migrationsDir: migrations })
      assert.equal(same.code, 0, same.stderr)
      assert.deepEqual(same.out, [`No changes: ${path.relative(ROOT, fx.dir)}/schema.prisma matches the migrations; nothing was created.`])
      assert.deepEqual(readdirSync(migrations).sort(), ['001_create_notes', 'migration_lock.toml'])
      const r = await runCli(['migrate:create', '--name', 'add_tags', `--schema=${path.join(fx.dir, 'schema-with-tags.prisma')}`], { url: db.url, migrationsDir: migrations })
      assert.equal(r.code, 0, r.stderr)
      // The runner sets the time-outs, so the generated migration does not, and the lint finds only advice in it.
      assert.deepEqual(r.out, [
        'Computing the down of 002_add_tags with the schema engine (the history replayed on shadow databases)',
        'Round trip of 002_add_tags: the down restores the previous state exactly',
        `Created: ${path.relative(ROOT, migrations)}/002_add_tags`,
        '  migration.sql',
        '  down.sql',
        'Lint: 1 migration with squawk 2.66.0; big tables: messages, subscribers; live row estimates read',
        '002_add_tags/migration.sql:3  warning  prefer-bigint-over-int: Using 32-bit integer fields can result in hitting the max `int` limit.',
        '    Fix: Use 64-bit integer values instead to prevent hitting this limit.',
        '002_add_tags/migration.sql:3  warning  prefer-identity: Serial types make schema, dependency, and permission management difficult.',
        '    Fix: Use an `IDENTITY` column instead.',
        'Next: review both files, then `npm run migrate:lint`, `npm run migrate:verify` and `npm run migrate`',
      ])
      assert.deepEqual(r.err, [])
      assert.doesNotMatch(readFileSync(path.join(migrations, '002_add_tags', 'migration.sql'), 'utf8'), /lock_timeout|statement_timeout/)
      assert.match(readFileSync(path.join(migrations, '002_add_tags', 'migration.sql'), 'utf8'), /CREATE TABLE "tags"/)
      assert.match(readFileSync(path.join(migrations, '002_add_tags', 'down.sql'), 'utf8'), /^DROP TABLE "tags";$/m)
      const v = await runCli(['migrate:verify'], { url: db.url, migrationsDir: migrations })
      assert.equal(v.code, 0, v.stdout + v.stderr)
      assert.equal(await leftoverShadowDbs(), 0)
    } finally {
      fx.remove()
    }
  })

  test('`npx prisma migrate status` agrees with ours (on the schema engine stand-in)', async () => {
    const fresh = await createTestDatabase('cli_prisma_agree')
    const fx = copyFixture('failing')
    try {
      const config = path.join(fx.dir, 'prisma.config.ts')
      writeFileSync(config, `import { defineConfig } from 'prisma/config'\nexport default defineConfig({ schema: ${JSON.stringify(path.join(ROOT, 'prisma', 'schema.prisma'))}, migrations: { path: ${JSON.stringify(fx.dir)} }, datasource: { url: ${JSON.stringify(fresh.url)} } })\n`)
      const prismaStatus = () => spawnSync(path.join(ROOT, 'node_modules', '.bin', 'prisma'), ['migrate', 'status', '--config', config], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: engineBin } })
      let p = prismaStatus()
      assert.match(p.stdout, /Following migrations have not yet been applied:\s+001_create_users\s+002_create_audit/)
      await runCli(['migrate'], { url: fresh.url, migrationsDir: fx.dir }) // 001 applied, 002 fails
      p = prismaStatus()
      assert.match(p.stdout + p.stderr, /Following migration have failed:\s+002_create_audit/)
      writeFileSync(path.join(fx.dir, '002_create_audit', 'migration.sql'), 'CREATE TABLE audit (id INTEGER);\n')
      await query(fresh.url, `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE finished_at IS NULL`)
      assert.equal((await runCli(['migrate'], { url: fresh.url, migrationsDir: fx.dir })).code, 0)
      p = prismaStatus()
      assert.equal(p.status, 0, p.stdout + p.stderr)
      assert.match(p.stdout, /Database schema is up to date!/)
    } finally {
      fx.remove()
      await fresh.drop()
    }
  })

  test('db:test reports server, database, user, latency and migration state', async () => {
    const r = await runCli(['db:test'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.out[0], `Connected: ${shownUrl(db.url)} (DATABASE_URL from the environment)`)
    assert.match(r.out[1]!, /^Server: {5}PostgreSQL \d+/)
    assert.equal(r.out[2], `Database:   ${db.name} (schema public)`)
    assert.equal(r.out[3], 'User:       postgres')
    assert.match(r.out[4]!, /^Latency: {4}[\d.]+ms per round trip \(connect \d+ms\)$/)
    assert.equal(r.out[5], 'Migrations: up to date (3 applied)')
  })

  test('--help on every command: usage, aligned options, examples; unknown command and flag exit 2', async () => {
    const r = await runCli(['migrate:rollback', '--help'])
    assert.equal(r.code, 0)
    assert.deepEqual(r.out, [
      'Undo applied migrations with their down.sql, newest first (default: the last one), all in one transaction.',
      '',
      'Usage',
      '  npm run migrate:rollback -- [options]',
      '  node bin/watify.mjs migrate:rollback [options]',
      '',
      'Options',
      '  --steps=<n>                    Roll back the last n applied migrations (default 1)',
      '  --to=<migration>               Roll back everything after <migration> and keep it (folder name, or name without its number)',
      '  --dry-run                      Print the plan, its SQL and exactly what data it would destroy; change nothing',
      '  --accept-data-loss             Go ahead although data would be lost (needed without a terminal when it would)',
      '  --lock-timeout=<seconds>       Wait at most this long for each table lock (application queries queue behind the wait), then roll back and retry, 3 attempts (default 3)',
      '  --statement-timeout=<seconds>  Stop and roll back a statement running longer than this (default 300; 0 = no limit)',
      '  --migrations-dir=<path>        Migrations folder (default prisma/migrations; env MIGRATIONS_DIR)',
      '  -h, --help                     Show this help',
      '',
      'Examples',
      '  npm run migrate:rollback',
      '  npm run migrate:rollback --steps=2            (same as: npm run migrate:rollback -- --steps=2)',
      '  npm run migrate:rollback --to=001_create_users_table',
      '  npm run migrate:rollback -- --to=create_users_table --dry-run',
      '  npm run migrate:rollback -- --steps=3 --accept-data-loss',
      '',
      'Exit codes',
      '  0  rolled back (or nothing to do)',
      '  1  a down.sql failed or is missing; nothing was rolled back',
      '  2  bad arguments, or a URL schema changes cannot use; nothing was touched',
      '  3  migration.sql edited since applied, a folder without migration.sql, or a down.sql with its own COMMIT/ROLLBACK',
      '  7  refused: it would destroy data, and no terminal / no --accept-data-loss typed after `--`; nothing changed',
      '  8  a table lock was not granted in time, or a statement ran too long; nothing changed',
      '  4, 5, 6  as for every command (`node bin/watify.mjs --help`)',
    ])
    for (const c of ['setup', 'migrate', 'migrate:run', 'migrate:status', 'migrate:reset', 'migrate:create', 'migrate:verify', 'db:test', 'db:config', 'db:start', 'db:stop']) {
      const h = await runCli([c, '--help'])
      assert.equal(h.code, 0, c)
      assert.ok(h.out.includes('Usage') && h.out.includes('Options') && h.out.includes('Examples'), c)
    }
    const unknown = await runCli(['migrate:up'])
    assert.equal(unknown.code, 2)
    assert.deepEqual(unknown.err, ['! Unknown command `migrate:up`', 'Hint: run `node bin/watify.mjs --help` for the list'])
    const flag = await runCli(['migrate', '--force'], { url: db.url })
    assert.equal(flag.code, 2)
    assert.equal(flag.err[0], '! Unknown option `--force` for `migrate`.')
    assert.equal(flag.err[2], '')
    assert.equal(flag.err[3], 'Apply pending migrations, each in its own transaction (Prisma `migrate deploy` semantics).')
  })
})
