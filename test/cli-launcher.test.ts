// bin/watify.mjs runs the esbuild bundle dist/cli.mjs only while it is newer
// than every source file bundled into it, and otherwise the TypeScript source,
// with the same output either way. Checked on a scratch copy of the project
// (bin, scripts, src, prisma/migrations, package.json), built there with the
// real scripts/build-cli.mjs, so the project's own src/ mtimes and dist/ are
// never touched while other tests run the CLI.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { migrationFolders } from './helpers/migrations.ts'
import { cleanEnv, collect, ROOT, spawnCli, stripTimes, type CliResult } from './fixtures/cli.ts'

const BUILD_LINES = /^build-cli: dist\/cli\.mjs \(\d+ kB, \d+ source files, \d+ms\)\nbuild-cli: dist\/schema-engine\.mjs \(\d+ kB, \d+ source files, \d+ms\)$/

/** Copies what the launcher and the build need into a fresh folder under test/.tmp. */
function scratchProject(): string {
  const base = path.join(ROOT, 'test', '.tmp')
  mkdirSync(base, { recursive: true })
  const dir = mkdtempSync(path.join(base, 'launcher-'))
  for (const rel of ['bin', 'scripts/build-cli.mjs', 'src/cli', 'src/migrate', 'src/db', 'src/engine', 'src/sql', 'src/scale', 'src/process.ts', 'prisma/migrations', 'package.json', 'tsconfig.json']) {
    cpSync(path.join(ROOT, rel), path.join(dir, rel), { recursive: true })
  }
  return dir
}

/** `node scripts/build-cli.mjs` in `dir` (esbuild resolves from the project's node_modules above it). */
function build(dir: string) {
  return spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-cli.mjs')], { cwd: dir, env: cleanEnv(), encoding: 'utf8' })
}

/** Sets a file's mtime an hour ahead (an edit after the build) and returns the undo. */
function touchFuture(file: string): () => void {
  const { atime, mtime } = statSync(file)
  const later = new Date(Date.now() + 3600_000)
  utimesSync(file, later, later)
  return () => utimesSync(file, atime, mtime)
}

describe('bin/watify.mjs: the bundle while it is fresh, the source otherwise', () => {
  let dir: string
  let db: TestDatabase
  const run = (args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> =>
    collect(spawnCli(args, cleanEnv({ WATIFY_CLI_DEBUG: '1', ...env }), { argv: [path.join(dir, 'bin', 'watify.mjs'), ...args] }))
  /** stderr without the launcher's own first line. */
  const cliErr = (r: CliResult) => r.err.slice(1)

  before(async () => {
    dir = scratchProject()
    db = await createTestDatabase('cli_launcher')
    const b = build(dir)
    assert.equal(b.status, 0, b.stderr)
    assert.match(b.stdout.trimEnd(), BUILD_LINES)
    assert.equal(b.stderr, '')
  })
  after(async () => {
    rmSync(dir, { recursive: true, force: true })
    await db.drop()
  })

  test('the build records exactly the project sources it bundled, none from node_modules', () => {
    const { inputs } = JSON.parse(readFileSync(path.join(dir, 'dist', 'cli.inputs.json'), 'utf8')) as { inputs: string[] }
    for (const f of ['src/cli/main.ts', 'src/cli/commands/status.ts', 'src/db/config.ts', 'src/db/embedded/index.ts', 'src/migrate/index.ts']) assert.ok(inputs.includes(f), f)
    assert.deepEqual(inputs.filter((f) => !/^src\/((cli|db|migrate|scale|sql)\/[\w/.-]+|process)\.ts$/.test(f) || !existsSync(path.join(dir, f))), [])
    // node_modules stay external: imported by name at run time, not copied in.
    const bundle = readFileSync(path.join(dir, 'dist', 'cli.mjs'), 'utf8')
    assert.match(bundle, /^import pg\d* from "pg";$/m)
    // esbuild heads each bundled module with a `// <path>` comment: only our sources appear.
    const heads = [...bundle.matchAll(/^\/\/ (\S+\.[cm]?[jt]s)$/gm)].map((m) => m[1]!)
    assert.ok(heads.includes('src/cli/main.ts'))
    assert.deepEqual(heads.filter((f) => !inputs.includes(f)), [])
  })

  test('a fresh build runs from dist; after a source edit the source runs, with identical --help output', async () => {
    const fromDist = await run(['--help'])
    assert.equal(fromDist.code, 0, fromDist.stderr)
    assert.deepEqual(fromDist.err, ['cli: dist'])
    assert.match(fromDist.out[0]!, /^Database commands of Wateen Watify/)

    const restore = touchFuture(path.join(dir, 'src', 'migrate', 'errors.ts'))
    let fromSource: CliResult
    try {
      fromSource = await run(['--help'])
    } finally {
      restore()
    }
    assert.equal(fromSource.code, 0, fromSource.stderr)
    assert.deepEqual(fromSource.err, ['cli: source (src/migrate/errors.ts changed after the build)'])
    assert.equal(fromSource.stdout, fromDist.stdout)

    // With the mtime restored the bundle is trusted again.
    assert.deepEqual((await run(['--help'])).err, ['cli: dist'])
  })

  test('a command\'s help, an unknown command and a bad flag: same output and exit code in both modes', async () => {
    const cases = [['migrate:rollback', '--help'], ['migrate:nope'], ['migrate:status', '--bogus']]
    const dist = await Promise.all(cases.map((c) => run(c)))
    const restore = touchFuture(path.join(dir, 'src', 'cli', 'commands', 'rollback.ts'))
    let source: CliResult[]
    try {
      source = await Promise.all(cases.map((c) => run(c)))
    } finally {
      restore()
    }
    for (const [i, args] of cases.entries()) {
      assert.equal(dist[i]!.err[0], 'cli: dist', args.join(' '))
      assert.equal(source[i]!.err[0], 'cli: source (src/cli/commands/rollback.ts changed after the build)', args.join(' '))
      assert.deepEqual([source[i]!.code, source[i]!.out, cliErr(source[i]!)], [dist[i]!.code, dist[i]!.out, cliErr(dist[i]!)], args.join(' '))
    }
    assert.deepEqual(dist.map((r) => r.code), [0, 2, 2])
    assert.equal(cliErr(dist[1]!)[0], '! Unknown command `migrate:nope`')
  })

  test('no bundle, or no record of its sources: the source runs', async () => {
    const bundle = path.join(dir, 'dist', 'cli.mjs')
    renameSync(bundle, `${bundle}.away`)
    try {
      const r = await run(['--help'])
      assert.equal(r.code, 0)
      assert.deepEqual(r.err, ['cli: source (dist/cli.mjs is not built (npm run build))'])
    } finally {
      renameSync(`${bundle}.away`, bundle)
    }
    const inputs = path.join(dir, 'dist', 'cli.inputs.json')
    renameSync(inputs, `${inputs}.away`)
    try {
      assert.deepEqual((await run(['--help'])).err, ['cli: source (dist/cli.inputs.json is missing or unreadable (npm run build))'])
    } finally {
      renameSync(`${inputs}.away`, inputs)
    }
  })

  test('bundled, paths resolve from the project root: default migrations folder, real database work, same status as the source', async () => {
    // No MIGRATIONS_DIR: the bundle must find <copy>/prisma/migrations through projectRoot() from dist/.
    const up = await run(['migrate'], { DATABASE_URL: db.url })
    assert.equal(up.code, 0, up.stderr)
    assert.deepEqual(up.err, ['cli: dist'])
    assert.equal(up.out.at(-1)!.replace(/\d+ms/, '<n>ms'), `Up to date: ${migrationFolders().length} migrations applied (${migrationFolders().length} just now, <n>ms)`)
    const back = await run(['migrate:rollback'], { DATABASE_URL: db.url })
    assert.equal(back.code, 0, back.stderr)
    assert.equal(back.out.at(-1), `Done: 1 rolled back; latest applied is now \`${migrationFolders().at(-2)}\``)
    const rows = await query<{ migration_name: string }>(db.url, `SELECT migration_name FROM _prisma_migrations WHERE rolled_back_at IS NULL AND finished_at IS NOT NULL ORDER BY 1`)
    assert.deepEqual(rows.map((r) => r.migration_name), migrationFolders().slice(0, -1))

    const dist = await run(['migrate:status'], { DATABASE_URL: db.url })
    const restore = touchFuture(path.join(dir, 'src', 'db', 'config.ts'))
    let source: CliResult
    try {
      source = await run(['migrate:status'], { DATABASE_URL: db.url })
    } finally {
      restore()
    }
    assert.equal(dist.err[0], 'cli: dist')
    assert.equal(source.err[0], 'cli: source (src/db/config.ts changed after the build)')
    assert.equal(dist.code, 1, dist.stderr) // one pending
    assert.equal(source.code, 1)
    assert.deepEqual(source.out.map(stripTimes), dist.out.map(stripTimes))
    assert.deepEqual(dist.out.slice(-2), [`Applied: ${migrationFolders().length - 1}  Pending: 1`, 'Next: `npm run migrate` applies 1 pending migration'])
  })

  test('a build that fails exits 1 naming file and line, and the old bundle is not used', async () => {
    const file = path.join(dir, 'src', 'migrate', 'sql.ts')
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nexport const broken = (\n`)
    const b = build(dir)
    assert.equal(b.status, 1)
    assert.match(b.stderr, /^build-cli: the cli bundle was not built; bin\/watify\.mjs will run the source through tsx\.\n/)
    assert.match(b.stderr, /\[ERROR\] Unexpected end of file\n\n\s+src\/migrate\/sql\.ts:\d+:\d+:\n/)
    const r = await run(['--help'])
    assert.equal(r.err[0], 'cli: source (src/migrate/sql.ts changed after the build)')
    assert.notEqual(r.code, 0) // the source itself is broken, and that is what the user sees
  })
})

test('build-cli without esbuild installed: one line, exit 0 (the launcher then uses tsx)', () => {
  // Outside the project no node_modules/esbuild is reachable, as after an install without it.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'watify-build-'))
  try {
    cpSync(path.join(ROOT, 'scripts', 'build-cli.mjs'), path.join(dir, 'scripts', 'build-cli.mjs'))
    const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-cli.mjs')], { cwd: dir, env: cleanEnv(), encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, '')
    assert.match(r.stdout, /^build-cli: skipped, esbuild is not available \(.*'esbuild'.*\); the CLI will run from source through tsx\.\n$/)
    assert.equal(existsSync(path.join(dir, 'dist')), false)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
