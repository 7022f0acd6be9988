// `npm test` and `npm run test:file <name>`: node's test runner over test/*.test.ts (or the
// files named), files in parallel, with the project's reporter (test/reporter.mjs).
//   node --import tsx test/run.ts                 every file
//   node --import tsx test/run.ts cli-migrate     test/cli-migrate.test.ts alone
// It names the run (WATIFY_TEST_RUN), so the files share one migrated and one seeded
// template database, each built by the first file that needs it (test/helpers/seeded.ts),
// and drops them when the run ends. The server is TEST_DATABASE_URL's, else the embedded one.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import path from 'node:path'

import pg from 'pg'

import { serverUrl } from './helpers/db.ts'
import { templatesMarker } from './helpers/seeded.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
// Files wait on child processes, locks and timers much of the time: four at once keep two cores busy.
const CONCURRENCY = Number(process.env.WATIFY_TEST_CONCURRENCY || 4)

function testFiles(names: string[]): string[] {
  const all = readdirSync(path.join(ROOT, 'test')).filter((f) => f.endsWith('.test.ts')).sort()
  if (names.length === 0) return all.map((f) => path.join('test', f))
  return names.map((n) => {
    const base = path.basename(n).replace(/\.test\.ts$/, '').replace(/\.ts$/, '')
    if (!all.includes(`${base}.test.ts`)) {
      console.error(`No test file \`test/${base}.test.ts\`. The files: ${all.map((f) => f.replace(/\.test\.ts$/, '')).join(', ')}`)
      process.exit(2)
    }
    return path.join('test', `${base}.test.ts`)
  })
}

async function dropTemplates(runId: string): Promise<void> {
  const marker = templatesMarker(runId)
  if (!existsSync(marker)) return // no file built one: nothing to drop, no server to reach
  rmSync(marker, { force: true })
  const client = new pg.Client({ connectionString: await serverUrl() })
  await client.connect()
  try {
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`t_tpl_%_${runId}`])
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
  } finally {
    await client.end()
  }
}

const files = testFiles(process.argv.slice(2))
const runId = randomBytes(4).toString('hex')
const args = [
  '--import',
  'tsx',
  '--test',
  `--test-concurrency=${CONCURRENCY}`,
  '--test-reporter=./test/reporter.mjs',
  '--test-reporter-destination=stdout',
  ...files,
]
const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, WATIFY_TEST_RUN: runId } })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
const code = await new Promise<number>((resolve) => child.on('close', (c, s) => resolve(c ?? (s ? 1 : 0))))
try {
  await dropTemplates(runId)
} catch (err) {
  console.error(`Could not drop this run's template databases (t_tpl_*_${runId}): ${(err as Error).message}`)
}
process.exit(code)
