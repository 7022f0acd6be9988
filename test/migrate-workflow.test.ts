// The everyday workflow end to end, as the README tells a newcomer: change
// schema.prisma, make a migration (`npx prisma migrate dev` or
// `npm run migrate:create`), use the new field at once, `npm run
// migrate:rollback`, `npm run migrate`. Real processes in a copy of the project
// (its real migration history, whatever it holds) with its own seeded database;
// every step must exit 0 and leave the other tables' data as it was.
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { adminQuery, createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { run, type Run } from './helpers/prisma.ts'
import { SCHEMA_CHANGES, type SchemaChange } from './helpers/schema-changes.ts'
import { cleanEnv, ROOT } from './fixtures/cli.ts'
import { seededTemplate } from './helpers/seeded.ts'

const engineReady = existsSync(path.join(ROOT, 'bin', 'schema-engine.mjs'))

interface Project {
  dir: string
  db: TestDatabase
  /** `npm run <script>` / `npx prisma ...` / `node ...` in the copy, with its DATABASE_URL. */
  sh(cmd: string, args: string[]): Promise<Run>
  remove(): Promise<void>
}

/** A copy of the project (timestamps kept, so the CLI bundle is exactly as fresh as here) on a database cloned from `template`. */
async function copyProject(template: string, label: string): Promise<Project> {
  const dir = mkdtempSync(path.join(tmpdir(), `watify-${label}-`))
  for (const entry of ['package.json', 'prisma.config.ts', 'tsconfig.json', 'prisma', 'src', 'bin', 'seeds', 'scripts', 'dist']) {
    if (existsSync(path.join(ROOT, entry))) cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true, preserveTimestamps: true })
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  const db = await createTestDatabase(label)
  await adminQuery(`DROP DATABASE "${db.name}"`)
  await adminQuery(`CREATE DATABASE "${db.name}" TEMPLATE "${template}"`)
  const env = cleanEnv({ DATABASE_URL: db.url, WATIFY_PROJECT_ROOT: undefined })
  return {
    dir,
    db,
    // A guard against a hung command, not a speed limit: migrate:create replays the whole history on
    // shadow databases, which on a loaded 2-core machine took over 3 minutes (2 min when less loaded).
    sh: (cmd, args) => run(cmd, args, { cwd: dir, env, timeoutMs: 600_000 }),
    remove: async () => {
      rmSync(dir, { recursive: true, force: true })
      await db.drop()
    },
  }
}

/** Every table's rows (columns sorted by name, rows sorted), `_prisma_migrations` and `skip` left out. */
async function tableData(url: string, skip: string): Promise<Record<string, string[]>> {
  const tables = await query<{ t: string }>(url, `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('_prisma_migrations', $1) ORDER BY 1`, [skip])
  const out: Record<string, string[]> = {}
  for (const { t } of tables) out[t] = (await query<{ r: string }>(url, `SELECT to_jsonb(x)::text AS r FROM "${t}" x`)).map((r) => r.r).sort()
  return out
}

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
}

async function useChange(p: Project, body: string): Promise<string> {
  writeFileSync(path.join(p.dir, 'use-change.ts'), `import { pool, prisma } from './src/client.ts'\n${body}\nawait prisma.$disconnect()\nawait pool.end()\n`)
  const r = await p.sh(process.execPath, ['--import', 'tsx', 'use-change.ts'])
  ok(r, 'the script using the new schema')
  return r.stdout.trim()
}

function editSchema(p: Project, change: SchemaChange): void {
  const file = path.join(p.dir, 'prisma', 'schema.prisma')
  writeFileSync(file, change.edit(readFileSync(file, 'utf8')))
}

const newMigrations = (p: Project) => readdirSync(path.join(p.dir, 'prisma', 'migrations')).filter((n) => !readdirSync(path.join(ROOT, 'prisma', 'migrations')).includes(n))

describe('the everyday workflow on a copy of the project and its real history', { skip: !engineReady && 'needs the schema engine stand-in (npm run build)', concurrency: 2 }, () => {
  // The real history applied and the demo data seeded (shared by the run); each test clones it.
  let seeded: Awaited<ReturnType<typeof seededTemplate>>
  before(async () => {
    seeded = await seededTemplate('workflow')
  })
  after(async () => {
    await seeded?.drop()
  })

  test('npx prisma migrate dev, use the field, npm run migrate:rollback (generates down.sql), npm run migrate', async () => {
    const p = await copyProject(seeded.template.name, 'workflow_dev')
    try {
      const change = SCHEMA_CHANGES.find((c) => c.kind === 'add column')!
      const data = await tableData(p.db.url, change.table)
      editSchema(p, change)
      ok(await p.sh('npx', ['prisma', 'migrate', 'dev', '--name', 'x']), 'npx prisma migrate dev --name x')
      const [name] = newMigrations(p)
      assert.match(name!, /^\d{14}_x$/)
      assert.deepEqual(readdirSync(path.join(p.dir, 'prisma', 'migrations', name!)), ['migration.sql'])
      assert.equal(await useChange(p, change.use), change.expect)

      const rb = await p.sh('npm', ['run', 'migrate:rollback'])
      ok(rb, 'npm run migrate:rollback')
      const downFile = `prisma/migrations/${name}/down.sql`
      assert.match(rb.stdout, new RegExp(`Saved ${downFile} \\(review and commit it\\):`))
      assert.match(rb.stdout, /\| ALTER TABLE "subscribers" DROP COLUMN "nickname";/)
      assert.match(rb.stdout, new RegExp(`Rolled back: ${name} in \\d+ms`))
      const down = readFileSync(path.join(p.dir, downFile), 'utf8')
      assert.doesNotMatch(down, /migrate:incomplete|"public"\./)
      assert.deepEqual(await query(p.db.url, `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'subscribers' AND column_name = 'nickname'`), [{ n: 0 }])
      assert.deepEqual(await tableData(p.db.url, change.table), data)

      const m = await p.sh('npm', ['run', 'migrate'])
      ok(m, 'npm run migrate')
      assert.match(m.stdout, new RegExp(`Applied: ${name} in`))
      assert.deepEqual(await query(p.db.url, `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'subscribers' AND column_name = 'nickname'`), [{ n: 1 }])
      assert.deepEqual(await tableData(p.db.url, change.table), data)
    } finally {
      await p.remove()
    }
  })

  // One copy, one change after another: each migration lands on top of the previous ones, as
  // a real history grows, and one migrate:verify at the end checks every down.sql of it.
  test('npm run migrate:create for each kind of change: use it, rollback, migrate; then migrate:verify', async () => {
    const p = await copyProject(seeded.template.name, 'workflow_create')
    try {
      const created: string[] = []
      for (const change of SCHEMA_CHANGES) {
        const data = await tableData(p.db.url, change.table)
        const whole = await tableData(p.db.url, '')
        editSchema(p, change)
        // `npm run` is how the first change goes; the others run the same script directly (npm
        // itself costs half a second a time, and cli-npm.test.ts covers what npm passes).
        const npmRun = (script: string, args: string[] = []) =>
          change === SCHEMA_CHANGES[0] ? p.sh('npm', ['run', '-s', script, ...(args.length ? ['--', ...args] : [])]) : p.sh(process.execPath, [path.join(p.dir, 'bin', 'watify.mjs'), script, ...args])
        const c = await npmRun('migrate:create', ['--name', change.name])
        ok(c, `migrate:create (${change.kind})`)
        const name = newMigrations(p).find((n) => !created.includes(n))
        assert.ok(name, `${change.kind}: no migration created:\n${c.stdout}`)
        assert.ok(created.every((n) => n < name), `${name} sorts after ${created.join(', ')}`)
        created.push(name)
        // The lint gate speaks for the changes that need a person: a dropped column's values cannot
        // come back with a rollback, and a plain index on subscribers (a big table) blocks writes.
        if (change.kind === 'drop column' || change.kind === 'add index') assert.match(c.stdout, /By hand: fix the 1 lint error above before applying it/, change.kind)
        else assert.doesNotMatch(c.stdout, /By hand:/, change.kind)
        assert.match(c.stdout, /Regenerated: the Prisma client/, change.kind)
        const dir = path.join(p.dir, 'prisma', 'migrations', name)
        assert.match(readFileSync(path.join(dir, 'migration.sql'), 'utf8'), change.up, change.kind)
        assert.doesNotMatch(readFileSync(path.join(dir, 'down.sql'), 'utf8'), /migrate:incomplete|"public"\./, change.kind)

        ok(await npmRun('migrate'), `npm run migrate (${change.kind})`)
        assert.equal(await useChange(p, change.use), change.expect, change.kind)
        const rb = await npmRun('migrate:rollback')
        ok(rb, `npm run migrate:rollback (${change.kind})`)
        assert.match(rb.stdout, new RegExp(`Rolled back: ${name} in`))
        assert.deepEqual(await tableData(p.db.url, change.table), data, change.kind)
        // A rename is undone as a rename: the descriptions survive the round trip.
        if (change.kind === 'rename via @map') assert.deepEqual(await tableData(p.db.url, ''), whole)
        ok(await npmRun('migrate'), `npm run migrate again (${change.kind})`)
        assert.deepEqual(await tableData(p.db.url, change.table), data, change.kind)
      }
      const v = await p.sh('npm', ['run', '-s', 'migrate:verify'])
      ok(v, 'migrate:verify')
      for (const name of created) assert.match(v.stdout, new RegExp(`Verified: ${name} in`))
    } finally {
      await p.remove()
    }
  })
})
