// `npm test` and `npm run test:file <name>`: node's test runner over test/*.test.ts (or the
// files named), files in parallel, longest first, with the project's reporter (test/reporter.mjs).
//   node --import tsx test/run.ts                 every file
//   node --import tsx test/run.ts cli-migrate     test/cli-migrate.test.ts alone
// It names the run (WATIFY_TEST_RUN), so the files share one migrated and one seeded
// template database, each built by the first file that needs it (test/helpers/seeded.ts),
// and drops them when the run ends. The server is TEST_DATABASE_URL's, else the embedded one.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { run } from 'node:test'
import { pipeline } from 'node:stream/promises'

import pg from 'pg'

import { serverUrl } from './helpers/db.ts'
import { templatesMarker } from './helpers/seeded.ts'
// @ts-expect-error: a plain .mjs module without types
import reporter from './reporter.mjs'

const ROOT = path.resolve(import.meta.dirname, '..')
// Files wait on child processes, locks and timers much of the time: four at once keep two cores busy.
const CONCURRENCY = Number(process.env.WATIFY_TEST_CONCURRENCY || 4)

// The longest files, longest first, for a run with no record of the last one (a fresh clone, CI).
const LONGEST = ['migrate-workflow', 'engine', 'cli-commands', 'rollback-live-data', 'secrets', 'pooler', 'live-index', 'cli-faults', 'embedded', 'migrate-lint', 'cli-rollback']

/**
 * Longest first, so the long files do not start last and run alone at the end: by the times
 * the reporter recorded in the last runs (test/.tmp/durations.json), else LONGEST's order.
 */
function longestFirst(files: string[]): string[] {
  let last: Record<string, number> = {}
  try {
    last = JSON.parse(readFileSync(path.join(ROOT, 'test', '.tmp', 'durations.json'), 'utf8')) as Record<string, number>
  } catch {
    // no record yet
  }
  const seconds = (f: string) => {
    if (last[f] !== undefined) return last[f]
    const i = LONGEST.indexOf(path.basename(f, '.test.ts'))
    return i < 0 ? 30 : 10_000 - i // never timed: the known long ones first, a new file in the middle
  }
  return [...files].sort((a, b) => seconds(b) - seconds(a) || a.localeCompare(b))
}

function testFiles(names: string[]): string[] {
  const all = readdirSync(path.join(ROOT, 'test')).filter((f) => f.endsWith('.test.ts')).sort()
  if (names.length === 0) return longestFirst(all.map((f) => path.join('test', f)))
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
process.env.WATIFY_TEST_RUN = runId // the files (child processes) inherit it
// run() keeps the order given (`node --test` sorts its files by name); each file runs in its
// own process with this process's node options (--import tsx).
const stream = run({ files: files.map((f) => path.join(ROOT, f)), concurrency: CONCURRENCY })
let failed = false
stream.on('test:fail', () => (failed = true))
await pipeline(stream.compose(reporter), process.stdout, { end: false })
try {
  await dropTemplates(runId)
} catch (err) {
  console.error(`Could not drop this run's template databases (t_tpl_*_${runId}): ${(err as Error).message}`)
}
// The reporter sets process.exitCode when the output showed a password.
process.exit(failed || process.exitCode ? 1 : 0)
