// npm test's reporter: node's TAP closing counts stay as they are, the summary
// after them counts and explains skipped suites, which TAP leaves out, and no
// password of the test server ever reaches the output.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { ROOT } from './fixtures/cli.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'watify-reporter-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Runs `file` as a test runner of its own (not as a child of this one) with npm test's reporter. */
function runWithReporter(file: string, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv }
  delete env.NODE_TEST_CONTEXT
  delete env.WATIFY_EMBEDDED_DIR
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', `--test-reporter=${path.join(ROOT, 'test', 'reporter.mjs')}`, '--test-reporter-destination=stdout', file], { cwd: dir, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout }))
  })
}

test('TAP closing lines unchanged, then a summary naming skipped suites and tests with their reasons', async () => {
  const file = path.join(dir, 'sample.test.mjs')
  writeFileSync(
    file,
    `import { describe, test } from 'node:test'
test('passes', () => {})
test('skipped alone', { skip: 'needs a thing' }, () => {})
describe('whole suite', { skip: 'Chromium is missing' }, () => { test('inside', () => {}) })
`,
  )
  const out = await runWithReporter(file)
  assert.equal(out.code, 0)
  const lines = out.stdout.trimEnd().split('\n')
  assert.ok(lines.includes('# pass 1'), out.stdout)
  assert.ok(lines.includes('# fail 0'), out.stdout)
  assert.ok(lines.some((l) => /^# skipped \d+$/.test(l)), out.stdout)
  assert.deepEqual(lines.slice(-3), [
    '# Summary: 1 files; tests: 1 passed, 0 failed, 1 skipped; suites skipped: 1',
    `#   skipped test: ${path.relative(dir, file)} › skipped alone: needs a thing`,
    `#   skipped suite: ${path.relative(dir, file)} › whole suite: Chromium is missing`,
  ])
})

test('a password of the test server in any output (a test\'s own, a failure\'s diff) is masked and fails the run', async () => {
  const secret = `pw-${Date.now().toString(36)}-distinctive`
  const file = path.join(dir, 'leaky.test.mjs')
  writeFileSync(
    file,
    `import assert from 'node:assert/strict'
import { test } from 'node:test'
const url = process.env.TEST_DATABASE_URL
test('prints a URL', () => { console.log('connecting to ' + url) })
test('compares it', () => { assert.equal(new URL(url).password, 'something else') })
test('a masked URL is fine', () => { console.log('postgresql://postgres:****@127.0.0.1:5432/x') })
`,
  )
  const out = await runWithReporter(file, { TEST_DATABASE_URL: `postgresql://app:${secret}@127.0.0.1:5432/db` })
  assert.equal(out.code, 1)
  assert.equal(out.stdout.includes(secret), false, 'the password never reaches the output')
  assert.ok(out.stdout.includes('# connecting to postgresql://app:****@127.0.0.1:5432/db'), 'masked where it was')
  assert.ok(out.stdout.includes('postgresql://postgres:****@127.0.0.1:5432/x'))
  const summary = out.stdout.trimEnd().split('\n').slice(-2)
  assert.deepEqual(summary, [
    `#   FAILED: ${path.relative(dir, file)} › compares it`,
    '#   FAILED: the output showed a password 3 time(s), masked above as ****: assert on masked values (test/helpers/masked.ts)',
  ])
})
