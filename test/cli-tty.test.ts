// On a terminal (a real pty through util-linux `script`): migrate:reset asks
// [y/N] and does nothing unless the answer is yes; colour appears on a
// terminal and never with NO_COLOR.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { cleanEnv, FIXTURES, MAIN, reEscape, ROOT, serverAddress, shownUrl, TSX } from './fixtures/cli.ts'
import { deploy } from '../src/migrate/index.ts'

const basic = path.join(FIXTURES, 'basic')
const hasScript = spawnSync('script', ['--version']).status === 0

/** Runs the CLI on a pty; answers `answer` once `prompt` appears. Output has \r\n line ends. */
function onTty(args: string[], env: NodeJS.ProcessEnv, answer?: { prompt: string; text: string }): Promise<{ code: number | null; output: string }> {
  const cmd = [TSX, MAIN, ...args].map((a) => `'${a}'`).join(' ')
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  let answered = false
  child.stdout.on('data', (d) => {
    output += d
    if (answer && !answered && output.includes(answer.prompt)) {
      answered = true
      child.stdin.write(answer.text)
    }
  })
  child.stderr.on('data', (d) => (output += d))
  return new Promise((resolve) => child.on('close', (code) => {
    child.stdin.end()
    resolve({ code, output: output.replace(/\r/g, '') })
  }))
}

describe('terminal behaviour', { skip: !hasScript && 'util-linux `script` is not installed' }, () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_tty')
    await deploy({ url: db.url, migrationsDir: basic })
    await query(db.url, `INSERT INTO users (email) VALUES ('keep@x')`)
  })
  after(async () => {
    await db.drop()
  })
  const env = () => cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: basic })

  test('migrate:reset asks [y/N]; "n" changes nothing (exit 1), "y" resets', async () => {
    const no = await onTty(['migrate:reset', '--skip-seed'], env(), { prompt: 'Continue? [y/N]', text: 'n\n' })
    assert.equal(no.code, 1, no.output)
    const target = `of database \`${db.name}\` on \`${serverAddress(db.url)}\` (${shownUrl(db.url)}) with ALL its tables and data,`
    assert.match(no.output, new RegExp(`Warning:.* this drops schema \`public\` ${reEscape(target)}\nthen re-applies 3 migrations\\.\n`))
    assert.match(no.output, /Cancelled: nothing was changed\n/)
    assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM users`), [{ n: 1 }])
    const yes = await onTty(['migrate:reset', '--skip-seed'], env(), { prompt: 'Continue? [y/N]', text: 'y\n' })
    assert.equal(yes.code, 0, yes.output)
    assert.match(yes.output, /Done:.* schema public recreated, 3 migrations applied\n/)
    assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM users`), [{ n: 0 }])
  })

  test('migrate:rollback that would lose data shows what and asks [y/N]; "n" changes nothing (exit 1), "y" rolls back', async () => {
    await deploy({ url: db.url, migrationsDir: basic })
    await query(db.url, `INSERT INTO users (email, nickname) VALUES ('tty@x', 'tt') ON CONFLICT DO NOTHING`)
    await query(db.url, `INSERT INTO posts (user_id, title) SELECT id, 'p' FROM users`)
    const posts = (await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM posts`))[0]!.n
    const no = await onTty(['migrate:rollback'], env(), { prompt: 'Roll back and lose this data? [y/N]', text: 'n\n' })
    assert.equal(no.code, 1, no.output)
    assert.match(no.output, new RegExp(`This rollback destroys data:\n  table \`posts\`: dropped with ${posts} rows?\n`))
    assert.match(no.output, /Cancelled: nothing was changed\n/)
    assert.deepEqual(await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM posts`), [{ n: posts }])
    const yes = await onTty(['migrate:rollback'], env(), { prompt: 'Roll back and lose this data? [y/N]', text: 'y\n' })
    assert.equal(yes.code, 0, yes.output)
    assert.match(yes.output, /Done:.* 1 rolled back; latest applied is now `002_add_user_nickname`\n/)
    assert.deepEqual(await query(db.url, `SELECT to_regclass('posts') AS t`), [{ t: null }])
    await deploy({ url: db.url, migrationsDir: basic })
  })

  test('colour on a terminal, none with NO_COLOR', async () => {
    const coloured = await onTty(['migrate:rollback', '--dry-run'], env())
    assert.equal(coloured.code, 0, coloured.output)
    assert.match(coloured.output, /\x1b\[1mWould roll back:\x1b\[22m 003_create_posts/)
    const plain = await onTty(['migrate:rollback', '--dry-run'], { ...env(), NO_COLOR: '1' })
    assert.equal(plain.code, 0, plain.output)
    assert.ok(!plain.output.includes('\x1b['), JSON.stringify(plain.output))
    assert.match(plain.output, /^Would roll back: 003_create_posts$/m)
  })
})
