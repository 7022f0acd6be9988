// Input edges (issue 16 item 6): a migration folder without migration.sql, time
// limits PostgreSQL cannot take, and SQL the splitter must not cut: SQL-standard
// function bodies (BEGIN ATOMIC … END), tagged dollar quotes, nested comments.
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'

import { splitStatements } from '../src/sql/split.ts'
import { copyFixture, runCli } from './fixtures/cli.ts'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'

const texts = (sql: string): string[] => splitStatements(sql).map((s) => s.text)

describe('the splitter', () => {
  test('a BEGIN ATOMIC body is one statement, CASE … END inside it included', () => {
    const sql = [
      'CREATE FUNCTION add_one(a int) RETURNS int LANGUAGE sql',
      'BEGIN ATOMIC',
      '  SELECT CASE WHEN a > 0 THEN a + 1 ELSE 0 END;',
      'END;',
      'CREATE OR REPLACE PROCEDURE log_it() LANGUAGE sql BEGIN ATOMIC INSERT INTO log VALUES (1); INSERT INTO log VALUES (2); END;',
      'SELECT 1;',
    ].join('\n')
    assert.deepEqual(texts(sql), [
      'CREATE FUNCTION add_one(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN a + 1 ELSE 0 END;\nEND',
      'CREATE OR REPLACE PROCEDURE log_it() LANGUAGE sql BEGIN ATOMIC INSERT INTO log VALUES (1); INSERT INTO log VALUES (2); END',
      'SELECT 1',
    ])
  })

  test('transaction control stays separate statements; BEGIN, CASE and END elsewhere change nothing', () => {
    assert.deepEqual(texts('BEGIN; SELECT CASE WHEN true THEN 1 END; COMMIT;'), ['BEGIN', 'SELECT CASE WHEN true THEN 1 END', 'COMMIT'])
    assert.deepEqual(texts('CREATE TABLE t (begin_at int, "end" int); SELECT 1 AS end_;'), ['CREATE TABLE t (begin_at int, "end" int)', 'SELECT 1 AS end_'])
    // A plpgsql body in dollar quotes: its BEGIN/END are inside the quote.
    assert.deepEqual(texts('CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$; SELECT 2;'), ['CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$', 'SELECT 2'])
  })

  test('tagged dollar quotes end only at their own tag', () => {
    assert.deepEqual(texts("CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $fn$ SELECT 'a;b' || $$;$$ $fn$; SELECT 3;"), [
      "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $fn$ SELECT 'a;b' || $$;$$ $fn$",
      'SELECT 3',
    ])
  })

  test('nested block comments hide their semicolons', () => {
    assert.deepEqual(texts('/* outer /* inner; */ still comment; */ SELECT 4; /* a */ SELECT 5;'), ['SELECT 4', 'SELECT 5'])
  })
})

describe('a migration with a BEGIN ATOMIC function body', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('edges_atomic')
  })
  after(async () => {
    await db?.drop()
  })

  test('migrate applies it in one piece, and rollback removes it', async () => {
    const fx = copyFixture('basic')
    try {
      const dir = path.join(fx.dir, '004_add_user_rank')
      mkdirSync(dir)
      writeFileSync(
        path.join(dir, 'migration.sql'),
        "SET lock_timeout = '5s';\nCREATE FUNCTION user_rank(n int) RETURNS text LANGUAGE sql IMMUTABLE\nBEGIN ATOMIC\n  SELECT CASE WHEN n > 10 THEN 'big' ELSE 'small' END;\nEND;\n",
      )
      writeFileSync(path.join(dir, 'down.sql'), 'DROP FUNCTION user_rank(int);\n')
      const r = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.deepEqual(await query(db.url, 'SELECT user_rank(11) AS a, user_rank(1) AS b'), [{ a: 'big', b: 'small' }])
      const rb = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(rb.code, 0, rb.stdout + rb.stderr)
      assert.deepEqual(await query(db.url, `SELECT to_regprocedure('user_rank(int)') AS f`), [{ f: null }])
    } finally {
      fx.remove()
    }
  })
})

describe('a migration folder without migration.sql', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('edges_missing_sql')
  })
  after(async () => {
    await db?.drop()
  })

  test('stops every command with exit 3, naming the folder and the file it holds; nothing is applied', async () => {
    const fx = copyFixture('basic')
    try {
      renameSync(path.join(fx.dir, '002_add_user_nickname', 'migration.sql'), path.join(fx.dir, '002_add_user_nickname', 'migrations.sql'))
      for (const args of [['migrate'], ['migrate:status'], ['migrate:rollback'], ['migrate:reset', '--force'], ['migrate:verify'], ['migrate:lint'], ['migrate:create', '--name=next_one', '--empty']]) {
        const r = await runCli(args, { url: db.url, migrationsDir: fx.dir })
        assert.equal(r.code, 3, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
        assert.ok(r.err.includes('Error: Migration folder `002_add_user_nickname` has no migration.sql (it holds: `down.sql`, `migrations.sql`); nothing was done.'), `${args.join(' ')}: ${r.stderr}`)
        assert.ok(r.err.includes('Hint: Rename `002_add_user_nickname/migrations.sql` to `002_add_user_nickname/migration.sql`'), r.stderr)
      }
      assert.deepEqual(await query(db.url, `SELECT to_regclass('users') AS t, to_regclass('_prisma_migrations') AS h`), [{ t: null, h: null }])
      assert.deepEqual(readdirSync(fx.dir).sort(), ['001_create_users', '002_add_user_nickname', '003_create_posts', 'migration_lock.toml'])
    } finally {
      fx.remove()
    }
  })
})

test('time limits PostgreSQL cannot take exit 2 before connecting', async () => {
  // Nothing listens on port 1: a command that connected first would exit 4.
  const url = 'postgresql://postgres@127.0.0.1:1/nowhere'
  const fx = copyFixture('basic')
  try {
    const cases: Array<[string[], string]> = [
      [['migrate', '--lock-timeout=99999999999'], 'Error: `--lock-timeout=99999999999` is more than PostgreSQL allows (2147483647 ms, about 24.8 days).'],
      [['migrate', '--statement-timeout=0.0004'], 'Error: `--statement-timeout=0.0004` is less than a millisecond, the smallest limit PostgreSQL takes (0 means no limit at all).'],
      [['migrate:rollback', '--lock-timeout=0.0001'], 'Error: `--lock-timeout=0.0001` is less than a millisecond, the smallest limit PostgreSQL takes.'],
      [['migrate:reset', '--force', '--statement-timeout=2147484'], 'Error: `--statement-timeout=2147484` is more than PostgreSQL allows (2147483647 ms, about 24.8 days).'],
      [['migrate', '--lock-timeout=-1'], 'Error: `--lock-timeout` takes a number of seconds above 0, got `-1`.'],
    ]
    for (const [args, line] of cases) {
      const r = await runCli(args, { url, migrationsDir: fx.dir })
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.err[0], line)
    }
    // The limits themselves are accepted: these get as far as connecting.
    for (const args of [['migrate', '--statement-timeout=0'], ['migrate', '--lock-timeout=0.001', '--statement-timeout=2147483.647']]) {
      const r = await runCli(args, { url, migrationsDir: fx.dir })
      assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`)
    }
  } finally {
    fx.remove()
  }
})


