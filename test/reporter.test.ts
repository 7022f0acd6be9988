// npm test's reporter: node's TAP closing counts stay as they are, and the
// summary after them counts and explains skipped suites, which TAP leaves out.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { ROOT } from './fixtures/cli.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'watify-reporter-'))
after(() => rmSync(dir, { recursive: true, force: true }))

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
  // Run as a test runner of its own, not as a child of this one.
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', `--test-reporter=${path.join(ROOT, 'test', 'reporter.mjs')}`, '--test-reporter-destination=stdout', file], { cwd: dir, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout }))
  })
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
