// The destructive commands on a database full of data: the project's real
// history, seeded by the project's seed, copied per test. Real CLI processes,
// exact output and exit codes, and the database checked with SQL (counted
// here independently of the CLI's own loss measurement).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { query, type TestDatabase } from './helpers/db.ts'
import { countEverything, copyOfRealMigrations, historyOf, REAL_MIGRATIONS, seededTemplate, type TableCounts } from './helpers/seeded.ts'
import { cleanEnv, collect, ROOT, runCli, shownUrl } from './fixtures/cli.ts'
import { snapshotCatalog, diffCatalogs } from '../src/migrate/index.ts'

type Seeded = Awaited<ReturnType<typeof seededTemplate>>

/** What a data-holding table's loss lines say, from independent counts. */
function droppedTableLines(name: string, c: TableCounts, indent: string): string[] {
  const cols = Object.entries(c.nonNull).filter(([, n]) => n > 0)
  return [`${indent}table \`${name}\`: dropped with ${c.rows} row${c.rows === 1 ? '' : 's'}`, ...(cols.length ? [`${indent}  non-null values: ${cols.map(([k, n]) => `${k} ${n}`).join(', ')}`] : [])]
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

/** The real history's folders, oldest first: tests keep passing when a migration is added. */
const FOLDERS = readdirSync(REAL_MIGRATIONS).filter((d) => existsSync(path.join(REAL_MIGRATIONS, d, 'migration.sql'))).sort()
const TOP = FOLDERS.at(-1)!
/** A new migration's folder name: numbered after the real history, so it sorts last. */
const next = (name: string): string => `${String(FOLDERS.length + 1).padStart(3, '0')}_${name}`
/** Everything after 004 (campaigns and later), newest first. */
const AFTER_004 = FOLDERS.filter((f) => f > '004_create_messages_table').reverse()

/** `lines` contains `expected` in this order (other lines may stand between). */
function assertInOrder(lines: string[], expected: string[]): void {
  let at = 0
  for (const e of expected) {
    const i = lines.indexOf(e, at)
    assert.ok(i >= 0, `missing, in order: ${e}\n--- in:\n${lines.join('\n')}`)
    at = i + 1
  }
}

describe('destructive commands on a seeded database', () => {
  let seeded: Seeded
  before(async () => {
    seeded = await seededTemplate('live')
  })
  after(async () => {
    await seeded.drop()
  })

  test('rollback --to=004 without a terminal: refused (exit 7) with the exact loss, nothing changed', async () => {
    const db = await seeded.copy()
    const counts = await countEverything(db.url)
    const catalog = await snapshotCatalog(db.url)
    const history = await historyOf(db.url)
    const r = await runCli(['migrate:rollback', '--to=004_create_messages_table'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(r.code, 7, r.stderr)
    assert.deepEqual(r.out, [
      `Database: ${shownUrl(db.url)} (DATABASE_URL from the environment)`,
      `Plan: undo ${AFTER_004.length} migrations in one transaction, newest first: ${AFTER_004.join(', ')}`,
    ])
    const ids = counts.messages!.nonNull.campaign_id!
    assert.ok(ids > 0 && counts.campaigns!.rows > 0, 'the seed links messages to campaigns')
    assert.deepEqual(r.err.slice(0, 2), ['Error: Refusing to roll back: it would destroy data. Nothing was changed.', 'Data that would be lost:'])
    assertInOrder(r.err, [
      ...droppedTableLines('campaign_groups', counts.campaign_groups!, '    '),
      ...droppedTableLines('campaigns', counts.campaigns!, '    '),
      `    table \`messages\`: ${plural(ids, 'row update')} (${counts.messages!.rows} → ${counts.messages!.rows} rows)`,
      `      non-null values gone: campaign_id ${ids}`,
    ])
    assert.equal(r.err.at(-1), 'Hint: See the plan with `npm run migrate:rollback -- --to=004_create_messages_table --dry-run`; to go ahead and lose this data: `npm run migrate:rollback -- --to=004_create_messages_table --accept-data-loss`')
    assert.deepEqual(await countEverything(db.url), counts)
    assert.deepEqual(diffCatalogs(catalog, await snapshotCatalog(db.url)), [])
    assert.deepEqual(await historyOf(db.url), history)
  })

  test('rollback --to=004 --accept-data-loss: reports what really went, keeps the history, and migrate re-applies', async () => {
    const db = await seeded.copy()
    const before = await countEverything(db.url)
    const r = await runCli(['migrate:rollback', '--to=004_create_messages_table', '--accept-data-loss'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(r.code, 0, r.stderr)
    const afterRollback = await countEverything(db.url)
    // Independently: what is gone.
    assert.equal(afterRollback.campaigns, undefined)
    assert.equal(afterRollback.campaign_groups, undefined)
    assert.equal(afterRollback.messages!.nonNull.campaign_id, 0)
    const ids = before.messages!.nonNull.campaign_id!
    assertInOrder(r.out, [
      'Lost:',
      ...droppedTableLines('campaign_groups', before.campaign_groups!, '  '),
      ...droppedTableLines('campaigns', before.campaigns!, '  '),
      `  table \`messages\`: ${plural(ids, 'row update')} (${before.messages!.rows} → ${before.messages!.rows} rows)`,
      `    non-null values gone: campaign_id ${ids}`,
    ])
    assert.equal(r.out.at(-1), `Done: ${AFTER_004.length} rolled back; latest applied is now \`004_create_messages_table\``)
    // Everything else is untouched.
    for (const t of ['users', 'whatsapp_groups', 'group_admins', 'subscribers', 'group_members']) assert.deepEqual(afterRollback[t], before[t], t)
    // The history keeps the rollback (when): status shows them rolled back.
    const h = await historyOf(db.url)
    assert.deepEqual(h.slice(-AFTER_004.length), [...AFTER_004].reverse().map((n) => `${n} rolled back`))
    const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(s.code, 1)
    assert.match(s.out[5]!, /^\[ \] 005_create_campaigns_table +rolled back \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +down\.sql$/)

    const m = await runCli(['migrate'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(m.code, 0, m.stderr)
    assert.equal(m.out.at(-1)?.replace(/\d+ms/, '<n>ms'), `Up to date: ${FOLDERS.length} migrations applied (${AFTER_004.length} just now, <n>ms)`)
    const again = await countEverything(db.url)
    for (const t of ['users', 'whatsapp_groups', 'group_admins', 'subscribers', 'group_members']) assert.deepEqual(again[t], before[t], t)
    assert.equal(again.campaigns!.rows, 0)
  })

  test('rollback --to=001_create_users_table --accept-data-loss on seeded data, then migrate: exit 0 both', async () => {
    const db = await seeded.copy()
    const users = (await countEverything(db.url)).users
    const r = await runCli(['migrate:rollback', '--to=001_create_users_table', '--accept-data-loss'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.out.at(-1), `Done: ${FOLDERS.length - 1} rolled back; latest applied is now \`001_create_users_table\``)
    assert.deepEqual(Object.keys(await countEverything(db.url)), ['users'])
    const m = await runCli(['migrate'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(m.code, 0, m.stderr)
    assert.deepEqual((await countEverything(db.url)).users, users)
  })

  test('the loss report is exact whatever the SQL does: DROP SCHEMA/TYPE CASCADE, TRUNCATE, DELETE, dynamic SQL in a DO block', async () => {
    const db = await seeded.copy()
    const fx = copyOfRealMigrations()
    try {
      const dir = path.join(fx.dir, next('extras'))
      mkdirSync(dir)
      writeFileSync(
        path.join(dir, 'migration.sql'),
        [
          'CREATE SCHEMA audit;',
          'CREATE TABLE audit.events (id serial PRIMARY KEY, note text);',
          "INSERT INTO audit.events (note) SELECT 'e' || g FROM generate_series(1, 5) g;",
          "CREATE TYPE mood AS ENUM ('ok', 'meh');",
          'ALTER TABLE subscribers ADD COLUMN mood mood;',
          "UPDATE subscribers SET mood = 'ok' WHERE id % 2 = 0;",
          'CREATE TABLE scratch (id int, v text);',
          "INSERT INTO scratch SELECT g, 'v' FROM generate_series(1, 7) g;",
          'CREATE TABLE notes (id int, body text);',
          "INSERT INTO notes SELECT g, 'n' FROM generate_series(1, 4) g;",
          '',
        ].join('\n'),
      )
      writeFileSync(
        path.join(dir, 'down.sql'),
        [
          'DROP SCHEMA audit CASCADE;',
          'DROP TYPE mood CASCADE;',
          'TRUNCATE scratch CASCADE;',
          'DELETE FROM notes WHERE id <= 2;',
          "DO $$ BEGIN EXECUTE 'UPDATE subscribers SET name = NULL WHERE opt_status = ' || quote_literal('opted_out'); END $$;",
          '',
        ].join('\n'),
      )
      const applied = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(applied.code, 0, applied.stderr)
      const before = await countEverything(db.url)
      const dry = await runCli(['migrate:rollback', '--dry-run'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(dry.code, 0, dry.stderr)
      assert.deepEqual(await countEverything(db.url), before, 'a dry run changes nothing')
      const real = await runCli(['migrate:rollback', '--accept-data-loss'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(real.code, 0, real.stderr)
      const afterCounts = await countEverything(db.url)

      const nulled = before.subscribers!.nonNull.name! - afterCounts.subscribers!.nonNull.name!
      assert.ok(nulled > 0, 'the seed has opted-out subscribers with a name')
      const s = before.subscribers!
      const expected = [
        ...droppedTableLines('audit.events', before['audit.events']!, '  '),
        `  table \`notes\`: 2 rows deleted (4 → ${afterCounts.notes!.rows} rows)`,
        '    non-null values gone: id 2, body 2',
        `  table \`scratch\`: 7 rows deleted (7 → ${afterCounts.scratch!.rows} rows)`,
        '    non-null values gone: id 7, v 7',
        `  column \`subscribers.mood\`: dropped with ${plural(s.nonNull.mood!, 'non-null value')} (${plural(s.rows, 'row')})`,
        `  table \`subscribers\`: ${plural(nulled, 'row update')} (${s.rows} → ${afterCounts.subscribers!.rows} rows)`,
        `    non-null values gone: name ${nulled}`,
      ]
      const lossOf = (lines: string[], heading: RegExp): string[] => {
        const i = lines.findIndex((l) => heading.test(l))
        return lines.slice(i + 1).filter((l) => l.startsWith('  '))
      }
      assert.deepEqual(lossOf(real.out, /^Lost:$/), expected)
      assert.deepEqual(lossOf(dry.out, /^Would lose /), expected)
      assert.equal(afterCounts['audit.events'], undefined)
      assert.equal(afterCounts.subscribers!.nonNull.mood, undefined)
    } finally {
      fx.remove()
    }
  })

  test('transaction control in a script is refused before any statement, naming file and line (exit 3)', async () => {
    const db = await seeded.copy()
    const fx = copyOfRealMigrations()
    try {
      const dir = path.join(fx.dir, next('commit'))
      mkdirSync(dir)
      const file = path.relative(ROOT, path.join(dir, 'migration.sql'))
      writeFileSync(path.join(dir, 'migration.sql'), 'CREATE TABLE t_c1 (id int);\nCOMMIT;\nCREATE TABLE t_c2 (id int);\nSELECT * FROM nope;\n')
      const history = await historyOf(db.url)
      const r = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 3, r.stderr)
      assert.deepEqual(r.err, [
        `Error: \`${file}\` controls the transaction itself (line 2: \`COMMIT\`); nothing was run.`,
        `    ${file}:2: COMMIT`,
        `Hint: Remove line 2 from ${file}: every migration.sql and down.sql already runs in its own transaction`,
      ])
      assert.deepEqual(await query(db.url, `SELECT to_regclass('t_c1') AS a, to_regclass('t_c2') AS b`), [{ a: null, b: null }])
      assert.deepEqual(await historyOf(db.url), history)

      writeFileSync(path.join(dir, 'migration.sql'), 'CREATE TABLE t_r (id int);\nROLLBACK;\n')
      const rb = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(rb.code, 3, rb.stderr)
      assert.equal(rb.err[0], `Error: \`${file}\` controls the transaction itself (line 2: \`ROLLBACK\`); nothing was run.`)
      assert.deepEqual(await historyOf(db.url), history)
      rmSync(dir, { recursive: true })

      // In a down.sql: the rollback is refused and nothing changes.
      const down = path.join(fx.dir, TOP, 'down.sql')
      writeFileSync(down, `DROP TABLE campaign_groups;\nCOMMIT;\n${readFileSync(down, 'utf8')}`)
      const counts = await countEverything(db.url)
      const d = await runCli(['migrate:rollback', '--accept-data-loss'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(d.code, 3, d.stderr)
      assert.equal(d.err[0], `Error: \`${path.relative(ROOT, down)}\` controls the transaction itself (line 2: \`COMMIT\`); nothing was run.`)
      assert.deepEqual(await countEverything(db.url), counts)
      assert.deepEqual(await historyOf(db.url), history)
    } finally {
      fx.remove()
    }
  })

  test('a multi-step rollback whose second down.sql fails changes nothing at all: catalog, rows and history', async () => {
    const db = await seeded.copy()
    const fx = copyOfRealMigrations()
    try {
      const second = FOLDERS.at(-2)!
      const broken = path.join(fx.dir, second, 'down.sql')
      appendFileSync(broken, '\nSELECT * FROM no_such_table;\n')
      const line = readFileSync(broken, 'utf8').split('\n').indexOf('SELECT * FROM no_such_table;') + 1
      const counts = await countEverything(db.url)
      const catalog = await snapshotCatalog(db.url)
      const history = await historyOf(db.url)
      const r = await runCli(['migrate:rollback', '--steps=3', '--accept-data-loss'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 1, r.stderr)
      const file = path.relative(ROOT, broken)
      assert.deepEqual(r.err, [
        `Error: Rolling back \`${second}\` failed: relation "no_such_table" does not exist`,
        `Failing statement (${file}, line ${line}):`,
        '    SELECT * FROM no_such_table',
        'Nothing was rolled back: the whole plan runs in one transaction, and it was rolled back.',
        `Hint: Fix ${file}, then check the plan with \`npm run migrate:rollback -- --dry-run\``,
      ])
      assert.deepEqual(await countEverything(db.url), counts)
      assert.deepEqual(diffCatalogs(catalog, await snapshotCatalog(db.url)), [])
      assert.deepEqual(await historyOf(db.url), history)
    } finally {
      fx.remove()
    }
  })

  test('a reader holding a lock on messages: rollback gives up after its lock timeout, names the reader; app queries wait no longer than that', async () => {
    const db = await seeded.copy()
    const reader = new pg.Client({ connectionString: db.url, application_name: 'report-reader' })
    const app = new pg.Client({ connectionString: db.url, application_name: 'webhook-app' })
    await reader.connect()
    await app.connect()
    try {
      await reader.query('BEGIN')
      await reader.query('SELECT count(*) FROM messages')
      const history = await historyOf(db.url)
      const child = collect(spawn(process.execPath, [path.join(ROOT, 'bin', 'watify.mjs'), 'migrate:rollback', '--to=003_create_subscribers_table', '--accept-data-loss', '--lock-timeout=1'], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: REAL_MIGRATIONS }), stdio: ['ignore', 'pipe', 'pipe'] }))
      // Application queries issued while the rollback waits for its lock.
      const waits: number[] = []
      const deadline = Date.now() + 6000
      while (Date.now() < deadline) {
        const t0 = performance.now()
        await app.query('SELECT id FROM messages LIMIT 1')
        waits.push(performance.now() - t0)
        await new Promise((r) => setTimeout(r, 100))
      }
      const r = await child
      assert.equal(r.code, 8, r.stderr)
      const readerPid = (reader as unknown as { processID: number }).processID
      assert.equal(r.err[0], 'Error: The rollback gave up: a table lock was not granted within 1s, 3 times. It was rolled back each time; nothing changed.')
      assert.equal(r.err[1], 'In the way:')
      assert.match(r.err[2]!, new RegExp(`^    pid ${readerPid}, application \`report-reader\`, idle in transaction for \\d+\\.\\ds on \`messages\`: SELECT count\\(\\*\\) FROM messages$`))
      assert.ok(Math.max(...waits) < 2500, `an application query waited ${Math.round(Math.max(...waits))}ms behind the rollback's lock request (lock timeout 1s)`)
      assert.deepEqual(await historyOf(db.url), history)
      assert.notEqual((await query(db.url, `SELECT to_regclass('messages') AS t`))[0]!.t, null)
    } finally {
      await reader.end()
      await app.end()
    }
  })

  test('a statement running longer than --statement-timeout is stopped and rolled back (exit 8)', async () => {
    const db = await seeded.copy()
    const fx = copyOfRealMigrations()
    try {
      appendFileSync(path.join(fx.dir, TOP, 'down.sql'), '\nSELECT pg_sleep(5);\n')
      const counts = await countEverything(db.url)
      const r = await runCli(['migrate:rollback', '--statement-timeout=0.5'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 8, r.stderr)
      assert.equal(r.err[0], 'Error: The rollback was stopped: a statement ran longer than the statement timeout (0.5s). It was rolled back; nothing changed.')
      assert.deepEqual(await countEverything(db.url), counts)
      assert.equal((await historyOf(db.url)).filter((h) => h.endsWith('rolled back')).length, 0)
    } finally {
      fx.remove()
    }
  })

  test('migrate refuses an edited or a locally missing applied migration (exit 3) before any statement', async () => {
    const db = await seeded.copy()
    const fx = copyOfRealMigrations()
    try {
      const dir = path.join(fx.dir, next('new'))
      mkdirSync(dir)
      writeFileSync(path.join(dir, 'migration.sql'), 'CREATE TABLE t_new (id int);\n')
      appendFileSync(path.join(fx.dir, '001_create_users_table', 'migration.sql'), ' ')
      const e = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(e.code, 3, e.stderr)
      assert.equal(e.err[0], 'Error: Applied migration `001_create_users_table` was edited after it was applied (its migration.sql no longer matches the recorded checksum); nothing was applied.')
      const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(s.code, 3)
      writeFileSync(path.join(fx.dir, '001_create_users_table', 'migration.sql'), readFileSync(path.join(REAL_MIGRATIONS, '001_create_users_table', 'migration.sql')))
      rmSync(path.join(fx.dir, '006_add_updated_at_triggers'), { recursive: true })
      const m = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(m.code, 3, m.stderr)
      assert.equal(m.err[0], 'Error: Applied migration `006_add_updated_at_triggers` is not in the migrations folder; nothing was applied.')
      assert.deepEqual(await query(db.url, `SELECT to_regclass('t_new') AS t`), [{ t: null }])
    } finally {
      fx.remove()
    }
  })

  test('npm settings never let a destructive command skip its question: force=true / accept-data-loss in an .npmrc, npm_config_* in the environment, flags before --', async () => {
    const db = await seeded.copy()
    const home = path.join(os.tmpdir(), `watify-npmrc-${process.pid}-${Date.now()}`)
    mkdirSync(home, { recursive: true })
    const rc = path.join(home, 'npmrc')
    const npm = (args: string[], extra: Record<string, string>) =>
      collect(spawn('npm', ['run', '--silent', ...args], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: REAL_MIGRATIONS, npm_config_userconfig: rc, ...extra }), stdio: ['ignore', 'pipe', 'pipe'] }))
    // Down to 004: drops messages and its rows, so it cannot run unasked.
    const steps = AFTER_004.length + 1
    try {
      const counts = await countEverything(db.url)
      writeFileSync(rc, 'force=true\n')
      const reset = await npm(['migrate:reset'], {})
      assert.equal(reset.code, 7, reset.stderr)
      assert.match(reset.stderr, /`--force` before `--` \(or an npm setting `force`\) does not count/)
      writeFileSync(rc, `steps=${steps}\naccept-data-loss=true\n`)
      const rb = await npm(['migrate:rollback'], {})
      assert.equal(rb.code, 7, rb.stderr)
      assert.equal(rb.out[0], `Using: --steps=${steps} (given before \`--\` or an npm setting; npm passed it as npm_config_steps)`)
      writeFileSync(rc, '')
      const envOnly = await npm(['migrate:rollback', `--steps=${steps}`], { npm_config_accept_data_loss: 'true' })
      assert.equal(envOnly.code, 7, envOnly.stderr)
      const before = await npm(['migrate:rollback', `--steps=${steps}`, '--accept-data-loss'], {})
      assert.equal(before.code, 7, before.stderr)
      assert.match(before.stderr, /Warning: `--accept-data-loss` before `--` \(or an npm setting `accept_data_loss`\) does not count: .*`npm run migrate:rollback -- --accept-data-loss`/)
      assert.deepEqual(await countEverything(db.url), counts)
      // The spec's spelling for the number, the permission typed after `--`.
      const typed = await npm(['migrate:rollback', '--steps=2', '--', '--accept-data-loss'], {})
      assert.equal(typed.code, 0, typed.stderr)
      assert.equal(typed.out.at(-1), `Done: 2 rolled back; latest applied is now \`${FOLDERS.at(-3)}\``)
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})
