// Importing the backend's client never starts a server: without DATABASE_URL it
// fails at once naming the variable; WATIFY_DEV_EMBEDDED=1 is the development opt-in.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
// An empty project root (no .env, no .data): nothing here may create or start anything.
const scratch = mkdtempSync(path.join(os.tmpdir(), 'watify-client-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

function importClient(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, WATIFY_PROJECT_ROOT: scratch, WATIFY_EMBEDDED_DIR: path.join(scratch, 'pg'), ...env }
  for (const k of ['DATABASE_URL', 'WATIFY_DEV_EMBEDDED', 'NODE_ENV']) if (!(k in env)) delete childEnv[k]
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "await import('./src/client.ts'); console.log('imported')"], { cwd: ROOT, env: childEnv })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }))
  })
}

const NO_URL =
  'DATABASE_URL is not set: set it (environment or .env) to the database this process must use. ' +
  "For local development on the project's embedded PostgreSQL, set WATIFY_DEV_EMBEDDED=1 instead."

describe('src/client.ts without DATABASE_URL', () => {
  test('fails at once with a message naming DATABASE_URL, and creates nothing', async () => {
    const r = await importClient({})
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.ok(r.stderr.includes(`Error: ${NO_URL}`), r.stderr)
    assert.deepEqual(await import('node:fs').then((fs) => fs.readdirSync(scratch)), [], 'no data dir, no lock, no log')
  })

  test('WATIFY_DEV_EMBEDDED=1 is refused under NODE_ENV=production', async () => {
    const r = await importClient({ WATIFY_DEV_EMBEDDED: '1', NODE_ENV: 'production' })
    assert.equal(r.code, 1)
    assert.ok(r.stderr.includes('Error: DATABASE_URL is not set, and WATIFY_DEV_EMBEDDED=1 is ignored with NODE_ENV=production: set DATABASE_URL to the production database.'), r.stderr)
    assert.deepEqual(await import('node:fs').then((fs) => fs.readdirSync(scratch)), [])
  })

  test('with DATABASE_URL set, importing connects to nothing yet', async () => {
    // Port 1 refuses connections: the import must still succeed, as no query has run.
    const r = await importClient({ DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'imported\n')
  })
})
