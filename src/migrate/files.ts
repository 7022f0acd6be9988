// Reading the migrations folder: Prisma's layout, one folder per migration
// holding migration.sql (up) and our down.sql, applied in folder-name order.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { runsOutsideTransaction } from '../sql/split.ts'
import { MigrateError } from './errors.ts'

export interface LocalMigration {
  /** Folder name, e.g. `001_create_users_table`; equals `migration_name` in `_prisma_migrations`. */
  name: string
  dir: string
  sqlPath: string
  /** sha256 hex of the migration.sql bytes, exactly as Prisma computes it. */
  checksum: string
  downPath: string
  /** Text of down.sql, or undefined when the file does not exist. */
  down: string | undefined
  /** migration.sql declares the no-transaction line: it runs statement by statement. */
  outsideTransaction: boolean
}

export { NO_TRANSACTION_MARKER, runsOutsideTransaction } from '../sql/split.ts'

/** Marker written into generated down.sql stubs; a down.sql still holding it is refused. */
export const INCOMPLETE_DOWN_MARKER = 'migrate:incomplete'

export function checksumOf(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Lists migrations (folders containing migration.sql), sorted like Prisma sorts them. */
export function readMigrations(migrationsDir: string): LocalMigration[] {
  let entries: string[]
  try {
    entries = readdirSync(migrationsDir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new MigrateError('MIGRATIONS_DIR', `Migrations folder \`${migrationsDir}\` does not exist.`, {
        hint: 'Create a migration with `npm run migrate:create -- --name <name>` or pass `--migrations-dir=<path>`',
        cause: err,
      })
    }
    throw new MigrateError('MIGRATIONS_DIR', `Cannot read migrations folder \`${migrationsDir}\`: ${(err as Error).message}`, { cause: err })
  }
  const out: LocalMigration[] = []
  // Plain string order: Prisma sorts folder names the same way (numbers are zero-padded).
  for (const name of entries.sort()) {
    const dir = path.join(migrationsDir, name)
    const sqlPath = path.join(dir, 'migration.sql')
    let bytes: Buffer
    try {
      // Hidden folders (.git, editor state) are not migrations.
      if (name.startsWith('.') || !statSync(dir).isDirectory()) continue
      bytes = readFileSync(sqlPath)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missingMigrationSql(name, dir)
      throw new MigrateError('MIGRATIONS_DIR', `Cannot read \`${sqlPath}\`: ${(err as Error).message}`, { cause: err })
    }
    const downPath = path.join(dir, 'down.sql')
    let down: string | undefined
    try {
      down = readFileSync(downPath, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    out.push({ name, dir, sqlPath, checksum: checksumOf(bytes), downPath, down, outsideTransaction: runsOutsideTransaction(bytes.toString('utf8')) })
  }
  return out
}

/**
 * A migration folder without migration.sql (a typo such as `migrations.sql`, a
 * file not yet written): skipping it would deploy the history without it and
 * record the next one as if it came first, so every command stops, as Prisma
 * does (P3015).
 */
function missingMigrationSql(name: string, dir: string): MigrateError {
  let files: string[] = []
  try {
    files = readdirSync(dir)
  } catch {
    // the folder itself is named either way
  }
  const sql = files.filter((f) => /\.sql$/i.test(f) && f !== 'down.sql')
  return new MigrateError('HISTORY_CONFLICT', `Migration folder \`${name}\` has no migration.sql${files.length ? ` (it holds: ${files.map((f) => `\`${f}\``).join(', ')})` : ' (it is empty)'}; nothing was done.`, {
    hint: sql.length === 1 ? `Rename \`${name}/${sql[0]}\` to \`${name}/migration.sql\`` : `Add \`${name}/migration.sql\`, or remove the folder if it is not a migration`,
  })
}

export function readUpSql(m: LocalMigration): string {
  return readFileSync(m.sqlPath, 'utf8')
}

/** Name without its leading number/timestamp: `001_create_users_table` -> `create_users_table`. */
export function shortName(name: string): string {
  return name.replace(/^\d+_/, '')
}

/**
 * Resolves what the user typed (`001_create_users_table`, or `create_users_table`
 * when only one migration has that name) among `names`.
 */
export function resolveMigrationName(input: string, names: string[]): { name: string } | { error: 'unknown' | 'ambiguous'; candidates: string[] } {
  if (names.includes(input)) return { name: input }
  const byShort = names.filter((n) => shortName(n) === input)
  if (byShort.length === 1) return { name: byShort[0]! }
  if (byShort.length > 1) return { error: 'ambiguous', candidates: byShort }
  // Also accept the bare number (`001`), a common shorthand.
  const byNumber = names.filter((n) => /^\d+$/.test(input) && n.startsWith(`${input}_`))
  if (byNumber.length === 1) return { name: byNumber[0]! }
  if (byNumber.length > 1) return { error: 'ambiguous', candidates: byNumber }
  const similar = names.filter((n) => n.includes(input) || shortName(n).includes(shortName(input)))
  return { error: 'unknown', candidates: similar }
}
