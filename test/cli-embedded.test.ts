// The zero-install default: db:config / db:start / setup / db:test / db:stop
// with no DATABASE_URL, on a private embedded server (own folder and port),
// and a wrong password against a server that really checks passwords.
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { FIXTURES, ROOT, runCli, stripTimes } from './fixtures/cli.ts'

const dataDir = path.join('test', '.tmp', `pg-${randomBytes(4).toString('hex')}`)
const port = randomInt(21000, 29000)
const env = { WATIFY_EMBEDDED_DIR: dataDir, WATIFY_EMBEDDED_PORT: String(port) }
const basic = path.join(FIXTURES, 'basic')

describe('embedded default (no DATABASE_URL)', () => {
  after(async () => {
    await runCli(['db:stop'], { env })
    rmSync(path.join(ROOT, dataDir), { recursive: true, force: true })
    rmSync(path.join(ROOT, `${dataDir}.log`), { force: true })
    rmSync(path.join(ROOT, `${dataDir}.lock`), { force: true })
  })

  test('db:config, db:start, setup, db:test, wrong password, db:stop', async () => {
    const cfg = await runCli(['db:config'], { env })
    assert.equal(cfg.code, 0, cfg.stderr)
    assert.deepEqual(cfg.out.slice(0, 4), ['Source:   embedded PostgreSQL (no DATABASE_URL in the environment or .env)', 'Status:   stopped (starts on first use, or `npm run db:start`)', 'Host:     127.0.0.1', `Port:     ${port}`])

    const start = await runCli(['db:start'], { env })
    assert.equal(start.code, 0, start.stderr)
    const masked = `postgresql://postgres:****@127.0.0.1:${port}/watify`
    assert.deepEqual(start.out, [`Started: embedded PostgreSQL at ${masked}`])

    const setup = await runCli(['setup', '--skip-seed'], { env, migrationsDir: basic })
    assert.equal(setup.code, 0, setup.stderr)
    assert.deepEqual(setup.out.map(stripTimes), [
      `Database: ${masked} (embedded PostgreSQL, no DATABASE_URL set)`,
      'Applying: 001_create_users', 'Applied: 001_create_users in <n>ms',
      'Applying: 002_add_user_nickname', 'Applied: 002_add_user_nickname in <n>ms',
      'Applying: 003_create_posts', 'Applied: 003_create_posts in <n>ms',
      '[X] 001_create_users       applied <time>  down.sql',
      '[X] 002_add_user_nickname  applied <time>  down.sql',
      '[X] 003_create_posts       applied <time>  down.sql',
      'Applied: 3  Pending: 0',
    ])

    const ok = await runCli(['db:test'], { env, migrationsDir: basic })
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(ok.out[0], `Connected: ${masked} (embedded PostgreSQL, no DATABASE_URL set)`)
    assert.equal(ok.out.at(-1), 'Migrations: up to date (3 applied)')

    // scram-sha-256 server: a wrong password is rejected with 28P01.
    const secret = 'Wr0ng-distinctive-Pw'
    const wrong = `postgresql://postgres:${secret}@127.0.0.1:${port}/watify`
    for (const cmd of ['db:test', 'migrate']) {
      const r = await runCli([cmd], { url: wrong, migrationsDir: basic, env: { ...env, DEBUG: '1' } })
      assert.equal(r.code, 5, r.stderr)
      assert.deepEqual(r.err.slice(0, 1), [`Error: PostgreSQL at \`127.0.0.1:${port}\` rejected user \`postgres\`: password authentication failed.`])
      assert.ok(r.err.includes('Hint: Fix the user or password in DATABASE_URL, then run `npm run db:test`'))
      assert.ok(!(r.stdout + r.stderr).includes(secret), r.stdout + r.stderr)
    }

    const stop = await runCli(['db:stop'], { env })
    assert.deepEqual(stop.out, [`Stopped: embedded PostgreSQL (port ${port})`])
    const again = await runCli(['db:stop'], { env })
    assert.deepEqual(again.out, [`Stopped: embedded PostgreSQL was not running (port ${port})`])
  })
})
