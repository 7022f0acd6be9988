// Each test file works in its own fresh database on the server named by
// TEST_DATABASE_URL (CI: the system PostgreSQL 15), or on the project's
// embedded server when it is not set.
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export interface TestDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

/** TEST_DATABASE_URL, else the embedded server's URL. */
export async function serverUrl(): Promise<string> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL
  const { ensureEmbeddedServer } = await import('../../src/db/embedded/index.ts')
  return (await ensureEmbeddedServer()).url
}

export { withDatabase } from '../../src/db/url.ts'
import { withDatabase } from '../../src/db/url.ts'

export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: await serverUrl() })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** Creates an empty UTF8 database named `t_<prefix>_<random>`; `drop()` removes it. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const base = await serverUrl()
  const name = `t_${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`
  await adminQuery(`CREATE DATABASE "${name}" ENCODING 'UTF8' TEMPLATE template0`)
  return {
    name,
    url: withDatabase(base, name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  }
}

/** Runs one query against `url` and returns its rows. */
export async function query<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, params)).rows as T[]
  } finally {
    await client.end()
  }
}
