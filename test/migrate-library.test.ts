// The migration library called in-process (as the backend and tests do),
// against a real PostgreSQL, with Prisma's bookkeeping checked by SQL.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { FIXTURES } from './fixtures/cli.ts'
import {
  deploy,
  diffCatalogs,
  memoryLogger,
  MigrateError,
  resolveMigrationName,
  rollback,
  snapshotCatalog,
  status,
} from '../src/migrate/index.ts'
import { findTransactionControl, isCatalogOnly, splitStatements, statementAtPosition } from '../src/migrate/sql.ts'

const basic = path.join(FIXTURES, 'basic')

describe('sql helpers', () => {
  test('splitStatements keeps plpgsql bodies, quotes and comments intact', () => {
    const sql = readFileSync(path.join(basic, '003_create_posts', 'migration.sql'), 'utf8')
    const stmts = splitStatements(sql).map((s) => s.text.split(/\s+/).slice(0, 3).join(' '))
    assert.deepEqual(stmts, ['CREATE TYPE post_status', 'CREATE TABLE posts', 'CREATE FUNCTION set_updated_at()', 'CREATE TRIGGER posts_set_updated_at'])
    assert.deepEqual(
      splitStatements(`SELECT 'a;b'; SELECT "x;y" FROM t; -- c;\nSELECT E'\\';'; /* ; /* ; */ */ SELECT $t$;$t$`).map((s) => s.text),
      [`SELECT 'a;b'`, `SELECT "x;y" FROM t`, `SELECT E'\\';'`, `SELECT $t$;$t$`],
    )
  })

  test('statementAtPosition maps a server position (code points) to the statement and its line', () => {
    const sql = `-- ünïcödé 😀\nSELECT 1;\n\nSELECT bad\n  FROM t;\n`
    const pos = [...sql].length - [...'bad\n  FROM t;\n'].length + 1
    assert.deepEqual(statementAtPosition(sql, pos), { text: 'SELECT bad\n  FROM t', line: 4 })
  })

  test('findTransactionControl finds top-level BEGIN/COMMIT/ROLLBACK/SAVEPOINT/END, not plpgsql bodies or strings', () => {
    const sql = [
      'CREATE TABLE t_c1 (id int);',
      'COMMIT;',
      "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql;",
      "DO $$ BEGIN PERFORM 1; END $$;",
      "INSERT INTO t_c1 SELECT 1 WHERE 'COMMIT;' <> '';",
      '  -- ROLLBACK; in a comment',
      'rollback ;',
      'Start  Transaction;',
      'savepoint a;',
      'end;',
      "PREPARE TRANSACTION 'x';",
    ].join('\n')
    assert.deepEqual(findTransactionControl(sql), [
      { line: 2, statement: 'COMMIT' },
      { line: 7, statement: 'rollback' },
      { line: 8, statement: 'Start  Transaction' },
      { line: 9, statement: 'savepoint a' },
      { line: 10, statement: 'end' },
      { line: 11, statement: "PREPARE TRANSACTION 'x'" },
    ])
  })

  test('isCatalogOnly: drops and renames are, anything that reads or writes rows or rewrites a table is not', () => {
    assert.equal(isCatalogOnly('DROP TABLE a; ALTER TABLE "b" DROP CONSTRAINT k; ALTER TABLE c DROP COLUMN x, DROP COLUMN y; DROP TYPE t CASCADE; ALTER INDEX i RENAME TO j; COMMENT ON TABLE a IS NULL;'), true)
    for (const sql of ['UPDATE m SET c = NULL;', 'DELETE FROM m;', 'TRUNCATE m;', "DO $$ BEGIN PERFORM 1; END $$;", 'ALTER TABLE m ALTER COLUMN c TYPE bigint;', 'ALTER TABLE m ADD COLUMN c int;', 'ALTER TABLE m ALTER COLUMN c SET NOT NULL;', 'SELECT f();', 'DROP TABLE a; INSERT INTO b VALUES (1);']) {
      assert.equal(isCatalogOnly(sql), false, sql)
    }
  })

  test('resolveMigrationName: full name, name without number, ambiguity', () => {
    const names = ['001_create_users', '002_add_x', '003_add_x']
    assert.deepEqual(resolveMigrationName('001_create_users', names), { name: '001_create_users' })
    assert.deepEqual(resolveMigrationName('create_users', names), { name: '001_create_users' })
    assert.deepEqual(resolveMigrationName('add_x', names), { error: 'ambiguous', candidates: ['002_add_x', '003_add_x'] })
    assert.equal((resolveMigrationName('nope', names) as { error: string }).error, 'unknown')
  })
})

describe('library against PostgreSQL', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('migrate_lib')
  })
  after(async () => {
    await db.drop()
  })

  test('deploy records exactly what Prisma records, in Prisma\'s table', async () => {
    const log = memoryLogger()
    const r = await deploy({ url: db.url, migrationsDir: basic, logger: log })
    assert.deepEqual(r.applied.map((a) => a.name), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
    assert.deepEqual(log.lines.map((l) => l.replace(/\d+ms/, 'Nms')), [
      'Applying: 001_create_users', 'Applied: 001_create_users in Nms',
      'Applying: 002_add_user_nickname', 'Applied: 002_add_user_nickname in Nms',
      'Applying: 003_create_posts', 'Applied: 003_create_posts in Nms',
    ])
    const cols = await query(db.url, `SELECT column_name, data_type, character_maximum_length AS len, is_nullable, column_default
      FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`)
    assert.deepEqual(cols, [
      { column_name: 'id', data_type: 'character varying', len: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', len: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', len: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', len: null, is_nullable: 'NO', column_default: '0' },
    ])
    const rows = await query<{ migration_name: string; checksum: string; finished: boolean; applied_steps_count: number; logs: null; rolled_back_at: null }>(
      db.url,
      `SELECT migration_name, checksum, finished_at >= started_at AS finished, applied_steps_count, logs, rolled_back_at FROM _prisma_migrations ORDER BY migration_name`,
    )
    for (const row of rows) {
      const bytes = readFileSync(path.join(basic, row.migration_name, 'migration.sql'))
      assert.deepEqual(row, { migration_name: row.migration_name, checksum: createHash('sha256').update(bytes).digest('hex'), finished: true, applied_steps_count: 1, logs: null, rolled_back_at: null })
    }
    assert.equal(rows.length, 3)
    // The trigger's plpgsql body survived: updating a post bumps updated_at.
    await query(db.url, `INSERT INTO users (email) VALUES ('a@x')`)
    await query(db.url, `INSERT INTO posts (user_id, title, updated_at) VALUES (1, 't', '2000-01-01')`)
    const [bumped] = await query<{ y: number }>(db.url, `UPDATE posts SET title = 'u' RETURNING extract(year FROM updated_at)::int AS y`)
    assert.ok(bumped!.y > 2000)
  })

  test('a second deploy applies nothing; status agrees', async () => {
    const r = await deploy({ url: db.url, migrationsDir: basic })
    assert.deepEqual(r.applied, [])
    assert.equal(r.alreadyApplied, 3)
    const s = await status({ url: db.url, migrationsDir: basic })
    assert.equal(s.upToDate, true)
    assert.deepEqual(s.entries.map((e) => [e.name, e.state, e.hasDown, e.checksumMatches]), [
      ['001_create_users', 'applied', true, true],
      ['002_add_user_nickname', 'applied', true, true],
      ['003_create_posts', 'applied', true, true],
    ])
  })

  test('rollback({ steps: 2 }) undoes the last two and marks their rows rolled back; the catalog is as after 001 alone', async () => {
    const fresh = await createTestDatabase('migrate_lib_ref')
    try {
      // Reference: a database where only 001 was ever applied.
      const only001 = path.join(FIXTURES, 'basic')
      await deploy({ url: fresh.url, migrationsDir: only001 })
      await rollback({ url: fresh.url, migrationsDir: only001, steps: 2 })
      const r = await rollback({ url: db.url, migrationsDir: basic, steps: 2, acceptDataLoss: true })
      assert.deepEqual(r.rolledBack.map((x) => x.name), ['003_create_posts', '002_add_user_nickname'])
      assert.equal(r.remainingLatest, '001_create_users')
      const names = await query<{ migration_name: string; rolled_back: boolean }>(db.url, `SELECT migration_name, rolled_back_at IS NOT NULL AS rolled_back FROM _prisma_migrations ORDER BY migration_name`)
      assert.deepEqual(names, [
        { migration_name: '001_create_users', rolled_back: false },
        { migration_name: '002_add_user_nickname', rolled_back: true },
        { migration_name: '003_create_posts', rolled_back: true },
      ])
      assert.deepEqual(diffCatalogs(await snapshotCatalog(fresh.url), await snapshotCatalog(db.url)), [])
    } finally {
      await fresh.drop()
    }
  })

  test('bad rollback arguments throw BAD_ARGUMENT before touching anything', async () => {
    const before = await snapshotCatalog(db.url)
    for (const opts of [{ steps: 0 }, { steps: -1 }, { steps: 1.5 }, { steps: 2 }, { to: 'nope' }, { steps: 1, to: '001_create_users' }, { to: '003_create_posts' }]) {
      await assert.rejects(rollback({ url: db.url, migrationsDir: basic, ...opts }), (err: unknown) => err instanceof MigrateError && err.code === 'BAD_ARGUMENT' && typeof err.hint === 'string', JSON.stringify(opts))
    }
    assert.deepEqual(diffCatalogs(before, await snapshotCatalog(db.url)), [])
    assert.equal((await query(db.url, `SELECT 1 FROM _prisma_migrations WHERE rolled_back_at IS NULL`)).length, 1)
  })

  test('snapshotCatalog names every kind of object and excludes _prisma_migrations', async () => {
    await deploy({ url: db.url, migrationsDir: basic })
    const snap = await snapshotCatalog(db.url)
    const keys = [...snap.keys()]
    for (const k of ['table users', 'table posts', 'column posts.status', 'constraint posts.posts_title_check', 'constraint posts.posts_user_id_fkey', 'index users_email_key', 'trigger posts.posts_set_updated_at', 'function set_updated_at()', 'type post_status', 'sequence posts_id_seq']) {
      assert.ok(keys.includes(k), `${k} missing from ${keys.join(', ')}`)
    }
    assert.equal(snap.get('type post_status')!.definition, `enum ('draft', 'published')`)
    assert.equal(snap.get('column posts.status')!.definition, `post_status NOT NULL DEFAULT 'draft'::post_status`)
    assert.ok(!keys.some((k) => k.includes('_prisma_migrations')))
  })
})
