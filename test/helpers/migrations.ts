// Applies prisma/migrations/*/migration.sql in order with plain pg, the way a deploy does (each
// in a transaction, or statement by statement when it declares the no-transaction line), without
// the history table: these tests are about the schema itself.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'

import { runStandalone } from '../../src/migrate/runner.ts'
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

/** Runs a migration script as `npm run migrate` does: one transaction, or statement by statement. */
export async function runScript(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await runStandalone(client, 'script', sql)
  } finally {
    await client.end()
  }
}

export async function applyAllMigrations(url: string): Promise<void> {
  for (const folder of migrationFolders()) await runScript(url, migrationFile(folder, 'migration.sql'))
}
