// Under faults: a deploy killed with SIGKILL mid-migration, concurrent
// deploys, a rollback racing a deploy, and passwords in every error path.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, query, withDatabase, type TestDatabase } from './helpers/db.ts'
import { cleanEnv, collect, FIXTURES, MAIN, ROOT, runCli, serverAddress, shownUrl, stripTimes } from './fixtures/cli.ts'
import { deploy, rollback } from '../src/migrate/index.ts'

const basic = path.join(FIXTURES, 'basic')
const slow = path.join(FIXTURES, 'slow')
const rowsOf = async (url: string) =>
  query<{ migration_name: string; finished: boolean }>(url, `SELECT migration_name, finished_at IS NOT NULL AS finished FROM _prisma_migrations WHERE rolled_back_at IS NULL ORDER BY migration_name`)

describe('faults', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_faults')
  })
  after(async () => {
    await db.drop()
  })

  test('a migrate killed with SIGKILL while a migration sleeps: status explains, a rerun completes', async () => {
    // One process (node --import tsx), so SIGKILL hits the one holding the connection.
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'migrate'], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: slow }), stdio: ['ignore', 'pipe', 'pipe'] })
    const done = collect(child)
    await new Promise<void>((resolve) => {
      let buf = ''
      child.stdout.on('data', (d) => {
        buf += d
        if (buf.includes('Applying: 002_slow')) resolve()
      })
    })
    await new Promise((r) => setTimeout(r, 300)) // inside pg_sleep(5)
    child.kill('SIGKILL')
    const killed = await done
    assert.equal(killed.signal, 'SIGKILL')

    const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: slow })
    assert.equal(s.code, 1, s.stderr)
    const lines = s.out.slice(1).map(stripTimes)
    assert.deepEqual(lines.slice(0, 4), [
      '[X] 001_create_users  applied <time>  down.sql',
      `[ ] 002_slow          ${'pending'.padEnd('applied 2000-01-01 00:00:00Z'.length)}  down.sql`,
      `[ ] 003_after_slow    ${'pending'.padEnd('applied 2000-01-01 00:00:00Z'.length)}  down.sql`,
      'Applied: 1  Pending: 2',
    ])
    // While the server has not yet noticed the dead client, status says a deploy holds the lock.
    for (const extra of lines.slice(4, -1)) assert.match(extra, /^In progress: session pid \d+ \(wateen-migrate\) holds the migration lock/)
    assert.equal(lines.at(-1), 'Next: `npm run migrate` applies 2 pending migrations')
    assert.deepEqual(await query(db.url, `SELECT to_regclass('slow_marker') AS t`), [{ t: null }])

    const rerun = await runCli(['migrate'], { url: db.url, migrationsDir: slow })
    assert.equal(rerun.code, 0, rerun.stderr)
    assert.deepEqual(await rowsOf(db.url), [
      { migration_name: '001_create_users', finished: true },
      { migration_name: '002_slow', finished: true },
      { migration_name: '003_after_slow', finished: true },
    ])
  })

  // The first round as two CLI processes; the other nine as two deploys on two connections of
  // this process: the race is between sessions on the lock, which costs no process start.
  test('two migrate processes started together apply every migration exactly once (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      await query(db.url, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public')
      let applied: string[]
      if (round === 0) {
        const [a, b] = await Promise.all([runCli(['migrate'], { url: db.url, migrationsDir: basic }), runCli(['migrate'], { url: db.url, migrationsDir: basic })])
        assert.equal(a.code, 0, a.stderr)
        assert.equal(b.code, 0, b.stderr)
        applied = [...a.out, ...b.out].filter((l) => l.startsWith('Applied: ')).map((l) => stripTimes(l).replace(/^Applied: | in <n>ms$/g, ''))
      } else {
        const [a, b] = await Promise.all([deploy({ url: db.url, migrationsDir: basic }), deploy({ url: db.url, migrationsDir: basic })])
        applied = [...a.applied, ...b.applied].map((m) => m.name)
      }
      assert.deepEqual(applied.sort(), ['001_create_users', '002_add_user_nickname', '003_create_posts'], `round ${round}`)
      assert.deepEqual((await rowsOf(db.url)).map((r) => r.migration_name), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
    }
  })

  test('a rollback racing a deploy serializes: the end state is one of the two orders, consistent with the catalog', async () => {
    for (let round = 0; round < 3; round++) {
      await query(db.url, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public')
      const fx = path.join(FIXTURES, 'basic')
      await deploy({ url: db.url, migrationsDir: fx })
      await rollback({ url: db.url, migrationsDir: fx }) // 003 pending now
      // The first round as CLI processes, the others as library calls on two sessions (see above).
      if (round === 0) {
        const [d, r] = await Promise.all([runCli(['migrate'], { url: db.url, migrationsDir: fx }), runCli(['migrate:rollback'], { url: db.url, migrationsDir: fx })])
        assert.equal(d.code, 0, d.stderr)
        assert.equal(r.code, 0, r.stderr)
      } else {
        await Promise.all([deploy({ url: db.url, migrationsDir: fx }), rollback({ url: db.url, migrationsDir: fx })])
      }
      const names = (await rowsOf(db.url)).map((x) => x.migration_name)
      // deploy first: 003 applied then rolled back; rollback first: 002 undone then 002 and 003 applied.
      assert.ok(
        JSON.stringify(names) === JSON.stringify(['001_create_users', '002_add_user_nickname']) ||
          JSON.stringify(names) === JSON.stringify(['001_create_users', '002_add_user_nickname', '003_create_posts']),
        names.join(','),
      )
      const [cat] = await query<{ posts: boolean; nick: boolean }>(db.url, `SELECT to_regclass('posts') IS NOT NULL AS posts, EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname') AS nick`)
      assert.deepEqual(cat, { posts: names.includes('003_create_posts'), nick: true })
    }
  })

  test('no output ever contains the password: missing database (exit 6), refused connection (exit 4), unknown host (exit 4)', async () => {
    // The server's own password when it has one (the embedded server checks it:
    // scram), else a distinctive one that trust auth ignores. Either way every
    // URL below carries a password that must never be printed.
    const base = new URL(db.url)
    if (base.password === '') base.password = 'Zq9-distinctive-P4ss'
    const secrets = [...new Set([base.password, decodeURIComponent(base.password)])]
    assert.ok(secrets.every((s) => s.length >= 12), 'the test server\'s password is too short to search the output for; give TEST_DATABASE_URL one of 12+ characters')
    const leaks = (text: string) => secrets.some((s) => text.includes(s))
    const at = serverAddress(db.url)
    const missing = withDatabase(base.toString(), 'no_such_db_for_masking')
    const refused = (() => {
      const u = new URL(base.toString())
      u.port = '1'
      return u.toString()
    })()
    const unknownHost = (() => {
      const u = new URL(base.toString())
      u.hostname = 'no-such-host.invalid'
      return u.toString()
    })()
    const cases: Array<[string, string[], number, string]> = [
      [missing, ['db:test'], 6, `Error: Database \`no_such_db_for_masking\` does not exist on \`${at}\`.`],
      [missing, ['migrate'], 6, `Error: Database \`no_such_db_for_masking\` does not exist on \`${at}\`.`],
      [refused, ['db:test'], 4, `Error: Cannot connect to PostgreSQL at \`${base.hostname}:1\`: connection refused (no server listening).`],
      [refused, ['migrate:status'], 4, `Error: Cannot connect to PostgreSQL at \`${base.hostname}:1\`: connection refused (no server listening).`],
      [unknownHost, ['db:test'], 4, 'Error: Cannot resolve host `no-such-host.invalid`.'],
    ]
    for (const [url, args, code, first] of cases) {
      const r = await runCli(args, { url, migrationsDir: basic, env: { DEBUG: '1' } })
      assert.equal(r.code, code, `${args[0]} ${r.stderr}`)
      assert.equal(r.err[0], first)
      assert.ok(!leaks(r.stdout + r.stderr), r.stdout + r.stderr)
    }
    // A working URL with a password: shown masked.
    const ok = await runCli(['migrate:status'], { url: base.toString(), migrationsDir: basic })
    assert.equal(ok.out[0], `Database: ${shownUrl(base.toString())} (DATABASE_URL from the environment)`)
    assert.ok(!leaks(ok.stdout + ok.stderr))
    const cfg = await runCli(['db:config'], { url: base.toString() })
    assert.equal(cfg.code, 0)
    assert.ok(cfg.out.includes(`URL:      ${shownUrl(base.toString())}`))
    assert.ok(cfg.out.includes('Password: set (hidden)'))
    assert.ok(!leaks(cfg.stdout + cfg.stderr))
  })
})
