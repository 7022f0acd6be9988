// The spec writes `npm run migrate:rollback --steps=2` and `--to=X` without
// `--`. Real `npm run` processes, to pin down what npm 11 hands the script and
// that every spelling does what the user meant, or refuses with exit 2; and
// that npm settings (.npmrc, npm_config_* in the environment) never make a
// read-only command fail nor let a destructive one skip its question.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { cleanEnv, collect, FIXTURES, ROOT, runNpm, shownUrl, stripTimes } from './fixtures/cli.ts'
import { deploy } from '../src/migrate/index.ts'

const basic = path.join(FIXTURES, 'basic')
const applied = async (url: string): Promise<string[]> =>
  (await query<{ migration_name: string }>(url, `SELECT migration_name FROM _prisma_migrations WHERE rolled_back_at IS NULL ORDER BY migration_name`)).map((r) => r.migration_name)

describe('npm run migrate:rollback with and without --', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_npm')
  })
  after(async () => {
    await db.drop()
  })
  beforeEach(async () => {
    await deploy({ url: db.url, migrationsDir: basic })
  })
  const opts = () => ({ url: db.url, migrationsDir: basic })

  test('--steps=2 before -- (npm_config_steps) rolls back two and says where the value came from', async () => {
    const r = await runNpm('migrate:rollback', ['--steps=2'], opts())
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.out[0], 'Using: --steps=2 (given before `--` or an npm setting; npm passed it as npm_config_steps)')
    assert.equal(r.out.at(-1), 'Done: 2 rolled back; latest applied is now `001_create_users`')
    assert.deepEqual(await applied(db.url), ['001_create_users'])
  })

  test('-- --steps=2 does the same', async () => {
    const r = await runNpm('migrate:rollback', ['--', '--steps=2'], opts())
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.out.at(-1), 'Done: 2 rolled back; latest applied is now `001_create_users`')
    assert.deepEqual(await applied(db.url), ['001_create_users'])
  })

  test('--to=X before -- arrives as npm_config_token_description and is honoured', async () => {
    const r = await runNpm('migrate:rollback', ['--to=001_create_users'], opts())
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.out[0], 'Using: --to=001_create_users (given before `--` or an npm setting; npm passed it as npm_config_token_description)')
    assert.deepEqual(await applied(db.url), ['001_create_users'])
    const after = await runNpm('migrate:rollback', ['--', '--to=001_create_users'], opts())
    assert.equal(after.code, 0, after.stderr)
    assert.equal(after.out.at(-1), 'Nothing to roll back: `001_create_users` is already the latest applied migration')
  })

  test('--dry-run before -- (npm_config_dry_run) is a dry run', async () => {
    const r = await runNpm('migrate:rollback', ['--dry-run'], opts())
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.out.slice(0, 4).map(stripTimes), [
      'Using: --dry-run (given before `--` or an npm setting; npm passed it as npm_config_dry_run)',
      `Database: ${shownUrl(db.url)} (DATABASE_URL from the environment)`,
      'Plan: undo 003_create_posts',
      'Dry run: 1 migration would be rolled back, in one transaction; nothing is changed',
    ])
    assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
  })

  test('the same option after -- wins over the one before it, with a warning', async () => {
    const r = await runNpm('migrate:rollback', ['--steps=3', '--', '--steps=1'], opts())
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.err.filter((l) => !l.startsWith('npm warn')), ['Warning: Ignoring `--steps=3` passed by npm as npm_config_steps (typed before `--`, or an npm setting); `--steps=1` after `--` wins.'])
    assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname'])
  })

  test('split values, typos and options of other commands exit 2 and touch nothing', async () => {
    const cases: Array<[string, string[], string]> = [
      ['migrate:rollback', ['--steps', '2'], '! `--steps` reached this command without its value (npm splits `--steps value`).'],
      ['migrate:rollback', ['--stesp=2'], '! Unknown option `--stesp` for `migrate:rollback` (passed by npm as npm_config_stesp).'],
      ['migrate', ['--dry-run'], '! `--dry-run` is not an option of `migrate` (passed by npm as npm_config_dry_run).'],
    ]
    for (const [script, args, first] of cases) {
      const r = await runNpm(script, args, opts())
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.err.find((l) => !l.startsWith('npm warn')), first, args.join(' '))
    }
    assert.deepEqual(await applied(db.url), ['001_create_users', '002_add_user_nickname', '003_create_posts'])
  })

  test('npm settings never make a read-only command fail: offline=true, json=true in .npmrc or the environment', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'watify-npmrc-'))
    const rc = path.join(home, 'npmrc')
    const npm = (script: string, extra: Record<string, string>) =>
      collect(spawn('npm', ['run', '--silent', script], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: basic, npm_config_userconfig: rc, ...extra }), stdio: ['ignore', 'pipe', 'pipe'] }))
    try {
      for (const script of ['migrate:status', 'migrate:lint']) {
        writeFileSync(rc, '')
        const plain = await npm(script, {})
        assert.ok(plain.code === 0 || plain.code === 1, `${script}: ${plain.stderr}`)
        writeFileSync(rc, 'offline=true\njson=true\ndry-run=true\n')
        for (const extra of [{}, { npm_config_offline: 'true', npm_config_json: 'true' }] as Array<Record<string, string>>) {
          const r = await npm(script, extra)
          assert.equal(r.code, plain.code, `${script}: ${r.stdout}${r.stderr}`)
          // (npm itself, with json=true, prints its own JSON error object after a non-zero exit)
          assert.deepEqual(r.out.slice(0, plain.out.length), plain.out, `${script}: npm settings changed what it did`)
        }
      }
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})
