// Output fit for pipes: clean JSON through `npm run -s`, and a closed pipe
// (`| head -1`) ends a command quietly, with its own exit code, never a stack trace.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cleanEnv, FIXTURES, LAUNCHER, ROOT } from './fixtures/cli.ts'
import { createTestDatabase, type TestDatabase } from './helpers/db.ts'

const basic = path.join(FIXTURES, 'basic')
let db: TestDatabase

before(async () => {
  db = await createTestDatabase('pipes')
})
after(async () => {
  await db?.drop()
})

/** Runs a command whose stdout reader has gone away before it writes anything. */
function withClosedStdout(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.destroy() // every write of the child now fails with EPIPE
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stderr }))
  })
}

describe('pipes', () => {
  test('a closed stdout ends the CLI quietly with the exit code of the command', async () => {
    const env = cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: basic })
    assert.deepEqual(await withClosedStdout(process.execPath, [LAUNCHER, 'db:config'], env), { code: 0, stderr: '' })
    assert.deepEqual(await withClosedStdout(process.execPath, [LAUNCHER, '--help'], env), { code: 0, stderr: '' })
    // Pending migrations: status still exits 1 (its own answer), and says nothing on stderr.
    assert.deepEqual(await withClosedStdout(process.execPath, [LAUNCHER, 'migrate:status'], env), { code: 1, stderr: '' })
    // The work is done even though nobody reads the output: migrate applies everything.
    assert.deepEqual(await withClosedStdout(process.execPath, [LAUNCHER, 'migrate'], env), { code: 0, stderr: '' })
    assert.deepEqual(await withClosedStdout(process.execPath, [LAUNCHER, 'migrate:status'], env), { code: 0, stderr: '' })
  })

  test('the embedded server CLI also ends quietly on a closed stdout', async () => {
    const env = cleanEnv({ WATIFY_EMBEDDED_DIR: path.join(ROOT, 'test', '.tmp', 'pipes-never-created'), WATIFY_EMBEDDED_PORT: '31999' })
    assert.deepEqual(await withClosedStdout(process.execPath, ['--import', 'tsx', 'src/db/embedded/cli.ts', 'status'], env), { code: 3, stderr: '' })
  })

  test('`npm run -s migrate:status -- --json` prints nothing but the JSON document (README)', async () => {
    const env = cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: basic })
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('npm', ['run', '-s', 'migrate:status', '--', '--json'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => (stdout += c))
      child.stderr.on('data', (c: Buffer) => (stderr += c))
      child.on('error', reject)
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })
    assert.equal(r.stderr, '')
    const doc = JSON.parse(r.stdout) as { migrations: unknown[] }
    assert.ok(Array.isArray(doc.migrations), r.stdout)
    assert.equal(doc.migrations.length, 3)
    assert.ok([0, 1].includes(r.code ?? -1))
  })
})
