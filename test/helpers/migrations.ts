// Applies prisma/migrations/*/migration.sql in order with plain pg, each in a transaction, the
// way a deploy does (without the history table: these tests are about the schema itself).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'

import { migrationsDir } from './schema-stages.ts'

export function migrationFolders(): string[] {
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
}

export function migrationFile(folder: string, file: 'migration.sql' | 'down.sql'): string {
  return readFileSync(path.join(migrationsDir, folder, file), 'utf8')
}

/** Runs `sql` as one simple query inside a transaction (plpgsql bodies stay intact). */
export async function runScript(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('BEGIN')
    await client.query(sql)
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    await client.end()
  }
}

export async function applyAllMigrations(url: string): Promise<void> {
  for (const folder of migrationFolders()) await runScript(url, migrationFile(folder, 'migration.sql'))
}
