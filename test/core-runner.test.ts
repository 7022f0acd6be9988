// The one runner and the loss report, tried as an adversary would on a seeded
// database: each case here lost data or told an untrue story before the
// runner was one (issue: one execution core).
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { query, type TestDatabase } from './helpers/db.ts'
import { copyOfRealMigrations, historyOf, seededTemplate } from './helpers/seeded.ts'
import { tempProject } from './helpers/prisma.ts'
import { cleanEnv, MAIN, ROOT, runCli, TSX } from './fixtures/cli.ts'
import { deploy } from '../src/migrate/index.ts'
import { classifyPgError } from '../src/migrate/pg-errors.ts'

const hasScript = spawnSync('script', ['--version']).status === 0

function addMigration(dir: string, name: string, up: string, down?: string): void {
  mkdirSync(path.join(dir, name))
  writeFileSync(path.join(dir, name, 'migration.sql'), up)
  if (down !== undefined) writeFileSync(path.join(dir, name, 'down.sql'), down)
}

const names = async (url: string): Promise<{ n: number; len: number }> =>
  (await query<{ n: number; len: number }>(url, `SELECT count(name)::int AS n, coalesce(sum(length(name)), 0)::int AS len FROM subscribers`))[0]!

describe('one runner, one loss report', () => {
  let seeded: Awaited<ReturnType<typeof seededTemplate>>
  before(async () => {
    seeded = await seededTemplate('core', ['--subscribers=5000', '--messages=20000'])
  })
  after(async () => {
    await seeded.drop()
  })

  test('a same-type ALTER … USING rewrite is reported and refused without consent; nothing changes', async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    try {
      addMigration(m.dir, '900_noop', 'SELECT 1;\n', 'ALTER TABLE subscribers ALTER COLUMN name TYPE varchar(255) USING left(name, 3);\n')
      await deploy({ url: db.url, migrationsDir: m.dir })
      const before = await names(db.url)
      const dry = await runCli(['migrate:rollback', '--dry-run'], { url: db.url, migrationsDir: m.dir })
      assert.equal(dry.code, 0, dry.err.join('\n'))
      const line = dry.out.find((l) => l.includes('column `subscribers.name`'))
      assert.ok(line, dry.out.join('\n'))
      const changed = Number(/(\d+) of them changed/.exec(line)![1])
      assert.ok(changed > 0 && changed <= before.n, line)
      const real = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: m.dir })
      assert.equal(real.code, 7, real.err.join('\n'))
      assert.ok(real.err.some((l) => l.includes(line.trim())), real.err.join('\n'))
      assert.deepEqual(await names(db.url), before)
      assert.equal((await historyOf(db.url)).at(-1), '900_noop applied')
    } finally {
      m.remove()
      await db.drop()
    }
  })

  test('an empty or comment-only down.sql is refused, naming the file; the table and its rows stay', async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    try {
      addMigration(m.dir, '900_x', 'CREATE TABLE x (id int);\nINSERT INTO x VALUES (1);\n', '-- nothing here\n\n')
      await deploy({ url: db.url, migrationsDir: m.dir })
      const r = await runCli(['migrate:rollback', '--accept-data-loss'], { url: db.url, migrationsDir: m.dir })
      assert.equal(r.code, 1, r.err.join('\n'))
      assert.match(r.err[0]!, /900_x\/down\.sql` has no statement \(empty, or only comments\)/)
      assert.deepEqual(await query(db.url, 'SELECT count(*)::int AS n FROM x'), [{ n: 1 }])
      assert.equal((await historyOf(db.url)).at(-1), '900_x applied')
    } finally {
      m.remove()
      await db.drop()
    }
  })

  test("a migration's SET search_path and SET lock_timeout do not reach the next migration", async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    try {
      addMigration(m.dir, '900_other', "CREATE SCHEMA other;\nSET search_path TO other;\nSET lock_timeout = '5s';\nCREATE TABLE in_other (id int);\n", 'DROP TABLE other.in_other;\nDROP SCHEMA other;\n')
      addMigration(m.dir, '901_here', 'CREATE TABLE here (id int);\n', 'DROP TABLE here;\n')
      const r = await runCli(['migrate'], { url: db.url, migrationsDir: m.dir })
      assert.equal(r.code, 0, r.err.join('\n'))
      assert.ok(r.out.some((l) => /^Ignored: `.*900_other\/migration\.sql` line 3 sets lock_timeout = 5s; the command's limits \(lock 3s, statement 5min\) hold/.test(l)), r.out.join('\n'))
      assert.deepEqual(await query(db.url, `SELECT to_regclass('public.here') IS NOT NULL AS here, to_regclass('other.in_other') IS NOT NULL AS other`), [{ here: true, other: true }])
      const back = await runCli(['migrate:rollback', '--steps=2'], { url: db.url, migrationsDir: m.dir })
      assert.equal(back.code, 0, back.err.join('\n'))
      assert.deepEqual(await query(db.url, `SELECT to_regclass('public.here') IS NULL AS gone, NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'other') AS other_gone`), [{ gone: true, other_gone: true }])
    } finally {
      m.remove()
      await db.drop()
    }
  })

  test("--lock-timeout holds for every statement, whatever the file sets; the error names the limit in force", async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    try {
      addMigration(m.dir, '900_wait', "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN nick text;\n", 'ALTER TABLE users DROP COLUMN nick;\n')
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE users IN ACCESS SHARE MODE')
      const t0 = performance.now()
      const r = await runCli(['migrate', '--lock-timeout=0.5'], { url: db.url, migrationsDir: m.dir })
      const secs = (performance.now() - t0) / 1000
      assert.equal(r.code, 8, r.err.join('\n'))
      assert.match(r.err[0]!, /a table lock was not granted within 0\.5s, 3 times/)
      // 3 waits of 0.5 s and pauses of 0.5 s and 1 s; the file's 5 s would take 15 s or more.
      assert.ok(secs < 10, `took ${secs}s`)
      assert.ok(!(await historyOf(db.url)).some((h) => h.startsWith('900_wait')))
    } finally {
      await holder.end()
      m.remove()
      await db.drop()
    }
  })

  test('NOWAIT failing is an error of the migration, not a lock time-out to retry', async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    try {
      addMigration(m.dir, '900_nowait', 'LOCK TABLE users IN SHARE MODE NOWAIT;\nALTER TABLE users ADD COLUMN nick text;\n', 'ALTER TABLE users DROP COLUMN nick;\n')
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE')
      const r = await runCli(['migrate'], { url: db.url, migrationsDir: m.dir })
      assert.equal(r.code, 1, r.err.join('\n'))
      assert.match(r.err[0]!, /^Error: Migration `900_nowait` failed and was rolled back \(the database is as before it\): could not obtain lock on relation "users"/)
      assert.ok(!r.out.some((l) => l.startsWith('Waiting:')), r.out.join('\n'))
      assert.equal((await historyOf(db.url)).at(-1), '900_nowait failed')
    } finally {
      await holder.end()
      m.remove()
      await db.drop()
    }
  })

  test('a no-transaction down.sql that deletes rows: dry run, refusal and real run report the same figures', async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    try {
      addMigration(m.dir, '900_mark', 'SELECT 1;\n', '-- watify:no-transaction\nDELETE FROM messages WHERE id % 10 = 0;\n')
      await deploy({ url: db.url, migrationsDir: m.dir })
      const n = (await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM messages WHERE id % 10 = 0`))[0]!.n
      assert.ok(n > 0)
      const dry = await runCli(['migrate:rollback', '--dry-run'], { url: db.url, migrationsDir: m.dir })
      assert.equal(dry.code, 0, dry.err.join('\n'))
      const figure = dry.out.find((l) => l.includes('table `messages`'))!
      assert.ok(figure?.includes(`${n} rows deleted`), dry.out.join('\n'))
      const refused = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: m.dir })
      assert.equal(refused.code, 7, refused.err.join('\n'))
      assert.ok(refused.err.some((l) => l.trim() === figure.trim()), refused.err.join('\n'))
      const real = await runCli(['migrate:rollback', '--accept-data-loss'], { url: db.url, migrationsDir: m.dir })
      assert.equal(real.code, 0, real.err.join('\n'))
      assert.ok(real.out.some((l) => l.trim() === figure.trim()), real.out.join('\n'))
      assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM messages WHERE id % 10 = 0`), [{ n: 0 }])
    } finally {
      m.remove()
      await db.drop()
    }
  })

  test('rows written while a rollback runs are counted or blocked: the reported loss is what was destroyed', async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    let stop = false
    let committed = 0
    const writer = new pg.Client({ connectionString: db.url })
    try {
      addMigration(m.dir, '900_log', 'CREATE TABLE event_log (id serial PRIMARY KEY, at timestamptz DEFAULT now());\n', 'DROP TABLE event_log;\n')
      await deploy({ url: db.url, migrationsDir: m.dir })
      await writer.connect()
      const writing = (async () => {
        while (!stop) {
          try {
            await writer.query('INSERT INTO event_log DEFAULT VALUES')
            committed++
          } catch {
            return // the table is gone
          }
        }
      })()
      await new Promise((r) => setTimeout(r, 300))
      const r = await runCli(['migrate:rollback', '--accept-data-loss'], { url: db.url, migrationsDir: m.dir })
      stop = true
      await writing
      assert.equal(r.code, 0, r.err.join('\n'))
      const line = r.out.find((l) => l.includes('table `event_log`: dropped with'))!
      assert.equal(Number(/dropped with (\d+) rows?/.exec(line)![1]), committed, `${line}; committed ${committed}`)
    } finally {
      stop = true
      await writer.end().catch(() => {})
      m.remove()
      await db.drop()
    }
  })

  test('a failed no-transaction migration: the retry does not say it changed nothing, and a rollback will not skip over it', async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    try {
      addMigration(m.dir, '900_part', '-- watify:no-transaction\nCREATE TABLE part_a (id int);\nCREATE TABLE part_b (id int);\nSELECT 1/0;\nCREATE TABLE part_c (id int);\n', 'DROP TABLE part_c;\nDROP TABLE part_b;\nDROP TABLE part_a;\n')
      const first = await runCli(['migrate'], { url: db.url, migrationsDir: m.dir })
      assert.equal(first.code, 1, first.err.join('\n'))
      assert.match(first.err[0]!, /Migration `900_part` failed at statement 3 of 4: division by zero/)
      assert.ok(first.err.includes('Statements 1 to 2 of 4 were applied and stay: it runs outside a transaction.'), first.err.join('\n'))
      const again = await runCli(['migrate'], { url: db.url, migrationsDir: m.dir })
      assert.equal(again.code, 3)
      assert.ok(!again.err.join('\n').includes('changed nothing'), again.err.join('\n'))
      assert.ok(again.err.some((l) => l.includes('statements 1 to 2 of 4 were applied and stay')), again.err.join('\n'))
      const status = await runCli(['migrate:status'], { url: db.url, migrationsDir: m.dir })
      assert.ok(status.out.some((l) => l.includes('statements 1 to 2 of 4 stay applied')), status.out.join('\n'))
      const dry = await runCli(['migrate:rollback', '--dry-run'], { url: db.url, migrationsDir: m.dir })
      assert.equal(dry.code, 3, dry.out.join('\n'))
      assert.match(dry.err[0]!, /Cannot roll back: `900_part` failed part-way outside a transaction \(statements 1 to 2 of 4 of it stay applied\)/)
      assert.equal((await historyOf(db.url)).filter((h) => h.startsWith('010_')).at(-1), '010_partition_messages applied')
    } finally {
      m.remove()
      await db.drop()
    }
  })

  test('npx prisma migrate deploy never records a migration applied while its unique index is INVALID', async () => {
    const db = await seeded.copy()
    const project = tempProject(db.url, 'model Person {\n  id   Int    @id\n  name String\n  @@map("people")\n}')
    try {
      const migrations = path.join(project.dir, 'prisma', 'migrations')
      mkdirSync(migrations)
      writeFileSync(path.join(migrations, 'migration_lock.toml'), 'provider = "postgresql"\n')
      addMigration(migrations, '001_people', 'CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL);\nINSERT INTO people VALUES (1, \'same\'), (2, \'same\');\n')
      addMigration(migrations, '002_unique_name', '-- watify:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS people_name_key ON people (name);\n')
      const valid = async () => query<{ valid: boolean }>(db.url, `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'people_name_key'`)
      const finished = async () => query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM _prisma_migrations WHERE migration_name = '002_unique_name' AND finished_at IS NOT NULL AND rolled_back_at IS NULL`)
      const first = await project.prisma(['migrate', 'deploy'])
      assert.notEqual(first.code, 0, first.stdout)
      assert.deepEqual(await valid(), [{ valid: false }])
      const resolve = await project.prisma(['migrate', 'resolve', '--rolled-back', '002_unique_name'])
      assert.equal(resolve.code, 0, resolve.stderr)
      const again = await project.prisma(['migrate', 'deploy'])
      assert.notEqual(again.code, 0, again.stdout)
      assert.ok(!again.stdout.includes('All migrations have been successfully applied'), again.stdout)
      assert.match(again.stdout + again.stderr, /could not create unique index "people_name_key"/)
      assert.deepEqual(await finished(), [{ n: 0 }])
      // Fixed data: the next deploy drops the INVALID index, builds it, and only then records it applied.
      await query(db.url, `UPDATE people SET name = 'other' WHERE id = 2`)
      assert.equal((await project.prisma(['migrate', 'resolve', '--rolled-back', '002_unique_name'])).code, 0)
      const fixed = await project.prisma(['migrate', 'deploy'])
      assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr)
      assert.deepEqual(await valid(), [{ valid: true }])
      assert.deepEqual(await finished(), [{ n: 1 }])
    } finally {
      project.remove()
      await db.drop()
    }
  })

  test('errors are classified by SQLSTATE and fields, whatever language the server speaks', async () => {
    const db = await seeded.copy()
    const a = new pg.Client({ connectionString: db.url })
    const b = new pg.Client({ connectionString: db.url })
    await a.connect()
    await b.connect()
    try {
      const locale = (await a.query<{ l: string }>(`SELECT collcollate AS l FROM pg_collation WHERE collcollate ~ '^(de_DE|fr_FR|es_ES)' LIMIT 1`)).rows[0]?.l
      if (locale) await a.query(`SET lc_messages = '${locale}'`).catch(() => {})
      const err = async (c: pg.Client, sql: string): Promise<unknown> => c.query(sql).then(() => assert.fail(`${sql} succeeded`), (e: unknown) => e)
      await b.query('BEGIN')
      await b.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE')
      assert.equal(classifyPgError(await err(a, 'LOCK TABLE users IN SHARE MODE NOWAIT')), 'sql')
      await a.query('SET lock_timeout = 100')
      assert.equal(classifyPgError(await err(a, 'SELECT count(*) FROM users')), 'lock-timeout')
      await b.query('ROLLBACK')
      await a.query('SET statement_timeout = 100')
      const t0 = performance.now()
      const e = await err(a, 'SELECT pg_sleep(2)')
      assert.equal(classifyPgError(e, { elapsedMs: performance.now() - t0, statementTimeoutMs: 100 }), 'statement-timeout')
      await a.query('SET statement_timeout = 0')
      const pid = (await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
      const sleeping = err(a, 'SELECT pg_sleep(5)')
      await new Promise((r) => setTimeout(r, 200))
      await b.query('SELECT pg_cancel_backend($1)', [pid])
      assert.equal(classifyPgError(await sleeping, { elapsedMs: 200, statementTimeoutMs: 0 }), 'cancelled')
    } finally {
      await a.end()
      await b.end()
      await db.drop()
    }
  })

  test('a confirmation is a ceiling: loss grown while the question waited is shown and asked again', { skip: !hasScript && 'util-linux `script` is not installed' }, async () => {
    const db = await seeded.copy()
    const m = copyOfRealMigrations()
    try {
      addMigration(m.dir, '900_t', 'CREATE TABLE t (id int);\nINSERT INTO t SELECT generate_series(1, 10);\n', 'DROP TABLE t;\n')
      await deploy({ url: db.url, migrationsDir: m.dir })
      const cmd = [TSX, MAIN, 'migrate:rollback'].map((x) => `'${x}'`).join(' ')
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: m.dir }), stdio: ['pipe', 'pipe', 'pipe'] })
      let output = ''
      let asked = 0
      child.stdout.on('data', async (d) => {
        output += d
        const prompts = output.split('Roll back and lose this data? [y/N]').length - 1
        if (prompts > asked) {
          asked = prompts
          // The first time, rows arrive while the question waits.
          if (asked === 1) await query(db.url, 'INSERT INTO t SELECT generate_series(11, 1010)')
          child.stdin.write('y\n')
        }
      })
      child.stderr.on('data', (d) => (output += d))
      const code = await new Promise<number | null>((r) => child.on('close', r))
      output = output.replace(/\r/g, '')
      assert.equal(code, 0, output)
      assert.equal(asked, 2, output)
      assert.match(output, /This rollback destroys data:\n {2}table `t`: dropped with 10 rows\n/)
      assert.match(output, /It now destroys more than you confirmed \(data was written while you were asked\), nothing was changed:\n {2}table `t`: dropped with 1010 rows\n/)
      assert.match(output, /Lost:\n {2}table `t`: dropped with 1010 rows\n/)
      process.stdout.write(`# the terminal, verbatim:\n${output.split('\n').map((l) => `#   ${l}`).join('\n')}\n`)
    } finally {
      m.remove()
      await db.drop()
    }
  })
})
