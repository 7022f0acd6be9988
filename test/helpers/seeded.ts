// Databases full of data for the destructive commands' tests: the project's
// real history migrated and seeded (`npm run seed`'s own code, as a child
// process), then copied per test with CREATE DATABASE … TEMPLATE, which is fast
// and leaves the seeded original untouched. Under `npm test` (test/run.ts sets
// WATIFY_TEST_RUN) the migrated and the seeded template are made once per run,
// by the first file that needs each, and shared; a file run alone makes its own.
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { adminQuery, createTestDatabase, serverUrl, withDatabase, type TestDatabase } from './db.ts'
import { cleanEnv, ROOT } from '../fixtures/cli.ts'
import { deploy } from '../../src/migrate/index.ts'
import { quoteIdent } from '../../src/migrate/sql.ts'
import { census, type TableCensus } from '../../src/migrate/census.ts'

const run = promisify(execFile)
export const REAL_MIGRATIONS = path.join(ROOT, 'prisma', 'migrations')

async function migrate(db: TestDatabase): Promise<void> {
  await deploy({ url: db.url, migrationsDir: REAL_MIGRATIONS })
}

async function seed(db: TestDatabase, seedArgs: string[] = []): Promise<void> {
  await run(process.execPath, ['--import', 'tsx', 'seeds/index.ts', ...seedArgs], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url }) })
}

/** `CREATE DATABASE <t_prefix_random> TEMPLATE <template>`. */
async function copyOf(template: string, prefix: string): Promise<TestDatabase> {
  const name = `t_${prefix}_${randomBytes(4).toString('hex')}`
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`)
  return { name, url: withDatabase(await serverUrl(), name), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`) }
}

const BUILDERS = {
  migrated: (db: TestDatabase) => migrate(db),
  seeded: async (db: TestDatabase) => {
    await migrate(db)
    await seed(db)
  },
}

/** Exists once a file of run `runId` has built a shared template (test/run.ts then drops them). */
export function templatesMarker(runId: string): string {
  return path.join(ROOT, 'test', '.tmp', `run-${runId}.templates`)
}

/**
 * The run's shared template of this kind (`t_tpl_<kind>_<run>`), built by the first
 * process that asks (under an advisory lock, so concurrent files wait for it rather than
 * build it twice); undefined outside `npm test`. test/run.ts drops them at the end.
 */
async function sharedTemplate(kind: keyof typeof BUILDERS): Promise<string | undefined> {
  const runId = process.env.WATIFY_TEST_RUN
  if (!runId || !/^[a-z0-9]{1,16}$/.test(runId)) return undefined
  const name = `t_tpl_${kind}_${runId}`
  const client = new pg.Client({ connectionString: await serverUrl() })
  await client.connect()
  try {
    await client.query(`SELECT pg_advisory_lock(hashtext($1))`, [name])
    const found = await client.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [name])
    if (found.rowCount === 0) {
      mkdirSync(path.dirname(templatesMarker(runId)), { recursive: true })
      writeFileSync(templatesMarker(runId), '') // tells test/run.ts there is something to drop
      // Built under another name and renamed when complete: a half-built template is never used.
      const building = await createTestDatabase(`tpl_${kind}`)
      try {
        await BUILDERS[kind](building)
        await adminQuery(`ALTER DATABASE ${quoteIdent(building.name)} RENAME TO ${quoteIdent(name)}`)
      } catch (err) {
        await building.drop()
        throw err
      }
    }
    return name
  } finally {
    await client.end() // ends the session, and its advisory lock
  }
}

/** A fresh database `t_<prefix>_<random>` with the real history applied (no data). */
export async function migratedDatabase(prefix: string): Promise<TestDatabase> {
  const shared = await sharedTemplate('migrated')
  if (shared) return copyOf(shared, prefix)
  const db = await createTestDatabase(prefix)
  try {
    await migrate(db)
  } catch (err) {
    await db.drop()
    throw err
  }
  return db
}

/**
 * A database migrated with the real history and seeded (`seedArgs`: the seed's volume
 * options); returns a factory of copies. The demo seed (no arguments) is shared by the run.
 */
export async function seededTemplate(prefix: string, seedArgs: string[] = []): Promise<{ template: Omit<TestDatabase, 'drop'>; copy(): Promise<TestDatabase>; drop(): Promise<void> }> {
  const shared = seedArgs.length === 0 ? await sharedTemplate('seeded') : undefined
  let own: TestDatabase | undefined
  if (!shared) {
    own = await createTestDatabase(`${prefix}_tpl`)
    await migrate(own)
    await seed(own, seedArgs)
  }
  const name = shared ?? own!.name
  const template = { name, url: withDatabase(await serverUrl(), name) }
  const copies: TestDatabase[] = []
  return {
    template,
    async copy() {
      const db = await copyOf(name, prefix)
      copies.push(db)
      return db
    },
    async drop() {
      for (const c of copies) await c.drop()
      await own?.drop() // a shared template stays for the other files; test/run.ts drops it
    },
  }
}

/** A scratch copy of the real migrations folder that a test may add to or edit. */
export function copyOfRealMigrations(): { dir: string; remove(): void } {
  const base = path.join(ROOT, 'test', '.tmp')
  mkdirSync(base, { recursive: true })
  const dir = path.join(base, `migrations-${randomBytes(4).toString('hex')}`)
  cpSync(REAL_MIGRATIONS, dir, { recursive: true })
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export type TableCounts = TableCensus

/**
 * Every user table with its exact row count and non-null values per column,
 * by brute force (census.ts): independent of the loss measurement the tests
 * check against it.
 */
export async function countEverything(url: string): Promise<Record<string, TableCounts>> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await census(client, 'public')
  } finally {
    await client.end()
  }
}

/** The history rows, oldest first, as `name state`. */
export async function historyOf(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const r = await client.query<{ name: string; state: string }>(
      `SELECT migration_name AS name, CASE WHEN rolled_back_at IS NOT NULL THEN 'rolled back' WHEN finished_at IS NOT NULL THEN 'applied' ELSE 'failed' END AS state
         FROM _prisma_migrations ORDER BY started_at, migration_name, id`,
    )
    return r.rows.map((x) => `${x.name} ${x.state}`)
  } finally {
    await client.end()
  }
}
