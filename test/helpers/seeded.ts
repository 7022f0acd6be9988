// Databases full of data for the destructive commands' tests: the project's
// real history migrated and seeded once per test file (`npm run seed`'s own
// code, as a child process), then copied per test with CREATE DATABASE …
// TEMPLATE, which is fast and leaves the seeded original untouched.
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { adminQuery, createTestDatabase, withDatabase, type TestDatabase } from './db.ts'
import { cleanEnv, ROOT } from '../fixtures/cli.ts'
import { deploy } from '../../src/migrate/index.ts'
import { quoteIdent } from '../../src/migrate/sql.ts'
import { census, type TableCensus } from '../../src/migrate/census.ts'

const run = promisify(execFile)
export const REAL_MIGRATIONS = path.join(ROOT, 'prisma', 'migrations')

/** Migrates and seeds a database with the real history; returns a factory of copies. */
export async function seededTemplate(prefix: string, seedArgs: string[] = []): Promise<{ template: TestDatabase; copy(): Promise<TestDatabase>; drop(): Promise<void> }> {
  const template = await createTestDatabase(`${prefix}_tpl`)
  await deploy({ url: template.url, migrationsDir: REAL_MIGRATIONS })
  await run(process.execPath, ['--import', 'tsx', 'seeds/index.ts', ...seedArgs], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: template.url }) })
  const copies: TestDatabase[] = []
  return {
    template,
    async copy() {
      const name = `t_${prefix}_${randomBytes(4).toString('hex')}`
      await adminQuery(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template.name)}`)
      const db = { name, url: withDatabase(template.url, name), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`) }
      copies.push(db)
      return db
    },
    async drop() {
      for (const c of copies) await c.drop()
      await template.drop()
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
