// `migrate:create`: the next migration from schema.prisma changes (Prisma's
// `migrate dev --create-only`), with its down.sql computed by the schema engine
// between the migration histories (with and without the new migration) and
// checked by a round trip (see down.ts). Everything runs BEFORE anything is
// written, so a failure leaves the folder untouched.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../db/config.ts'
import { connect, parseTarget } from './connection.ts'
import { computeDown, isEmptyScript, MIGRATION_LOCK_TOML, prismaDiff, withoutSchemaQualifier, withoutTransactionControl, withRenames, sameSchemaAfter, describeRename } from './down.ts'
import { MigrateError } from './errors.ts'
import { INCOMPLETE_DOWN_MARKER, readMigrations, readUpSql } from './files.ts'
import { silentLogger, type Logger } from './logger.ts'
import { defaultMigrationsDir, displayPath } from './options.ts'

export interface CreateOptions {
  name: string
  migrationsDir?: string
  /** Default `<project root>/prisma/schema.prisma`. */
  schemaPath?: string
  /** Create an empty migration for hand-written SQL (down.sql is a stub to complete). */
  empty?: boolean
  logger?: Logger
  /** Extra environment for the Prisma CLI (DATABASE_URL; SHADOW_DATABASE_URL to use your own shadow database). */
  env?: Record<string, string>
  /**
   * Database URL (required unless `empty`): the schema engine replays the
   * history on shadow databases it creates and drops on this server (unless
   * SHADOW_DATABASE_URL names one), and the down's round trip runs on a
   * throwaway database there. Its `?schema=` is used.
   */
  url?: string
}

export interface CreateResult {
  /** Undefined when nothing changed and `empty` was not asked for. */
  name: string | undefined
  dir: string | undefined
  /** Notes for the author: parts that need hand-written SQL. */
  needsHandWork: string[]
  /** Where the files differ from Prisma's own output, for review. */
  notes: string[]
}

export const NAME_PATTERN = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/

export function validateMigrationName(name: string): void {
  if (!NAME_PATTERN.test(name) || name.length > 200) {
    const suggestion = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').replace(/^(\d)/, 'm_$1') || 'add_something'
    throw new MigrateError('BAD_ARGUMENT', `Migration name \`${name}\` is not snake_case (lowercase letters, digits, single underscores, starting with a letter).`, {
      hint: `Example: \`npm run migrate:create -- --name ${suggestion}\``,
    })
  }
}

/** `npx prisma migrate dev` names its folders with a 14-digit UTC time. */
const TIMESTAMPED = /^(\d{14})_/

/**
 * The folder name for a new migration: it must sort (as a plain string, the
 * way Prisma orders folders) after every existing one. Numbered (`008_x`)
 * while the history is numbered; once a `migrate dev` folder (`20261202120000_x`)
 * is the last one, timestamped the same way, since no number would sort after it.
 */
export function nextMigrationName(existing: string[], name: string, now: Date = new Date()): string {
  const last = [...existing].sort().at(-1)
  const stamp = TIMESTAMPED.exec(last ?? '')?.[1]
  if (stamp !== undefined) {
    const current = now.toISOString().replace(/\D/g, '').slice(0, 14)
    // A clock behind the last folder's must still sort after it.
    return `${current > stamp ? current : String(BigInt(stamp) + 1n)}_${name}`
  }
  let max = 0
  let width = 3
  for (const n of existing) {
    const m = /^(\d+)_/.exec(n)
    if (!m) continue
    max = Math.max(max, Number(m[1]))
    width = Math.max(width, m[1]!.length)
  }
  const next = `${String(max + 1).padStart(width, '0')}_${name}`
  if (last !== undefined && next <= last) {
    throw new MigrateError('BAD_ARGUMENT', `\`${next}\` would sort before \`${last}\`, and migrations are applied in name order.`, {
      hint: 'Rename the folders to a wider number (e.g. `0999_x`) before they are applied anywhere, or use `npx prisma migrate dev --create-only`',
    })
  }
  return next
}

export async function createMigration(opts: CreateOptions): Promise<CreateResult> {
  validateMigrationName(opts.name)
  const logger = opts.logger ?? silentLogger
  const migrationsDir = path.resolve(opts.migrationsDir ?? defaultMigrationsDir())
  const schemaPath = path.resolve(opts.schemaPath ?? path.join(projectRoot(), 'prisma', 'schema.prisma'))
  mkdirSync(migrationsDir, { recursive: true })
  // Prisma reads the provider from this file when replaying migrations; the first migration writes it.
  const lockFile = path.join(migrationsDir, 'migration_lock.toml')
  if (!existsSync(lockFile)) writeFileSync(lockFile, MIGRATION_LOCK_TOML)
  const existing = readMigrations(migrationsDir)
  const clash = existing.find((m) => m.name.replace(/^\d+_/, '') === opts.name)
  if (clash) {
    throw new MigrateError('BAD_ARGUMENT', `A migration named \`${opts.name}\` already exists: \`${clash.name}\`.`, { hint: `Pick another name, e.g. \`npm run migrate:create -- --name ${opts.name}_2\`` })
  }
  const name = nextMigrationName(existing.map((m) => m.name), opts.name)
  const needsHandWork: string[] = []
  const notes: string[] = []
  let up: string
  let down: string
  if (opts.empty) {
    up = `-- ${name}: write the migration SQL here.\n`
    down = `-- ${INCOMPLETE_DOWN_MARKER}: write SQL that undoes migration.sql, then delete this line.\n-- Rollbacks refuse to run this file while the line above is here.\n`
    needsHandWork.push('migration.sql and down.sql are empty: write both by hand, then run `npm run migrate:verify`')
  } else {
    if (!opts.url) throw new MigrateError('BAD_ARGUMENT', 'createMigration needs `url`: the schema engine replays the history on shadow databases on its server.', { hint: 'Pass the database URL' })
    // The server must be reachable, accept us, and be a primary (the engine makes and drops
    // shadow databases there): said here with our exit codes, not as a failed child process.
    await (await connect(opts.url, { applicationName: 'wateen-migrate-create' })).close()
    up = withoutSchemaQualifier(withoutTransactionControl(await prismaDiff(['--from-migrations', migrationsDir, '--to-schema', schemaPath, '--script'], opts.url, opts.env)), parseTarget(opts.url).schema)
    if (isEmptyScript(up)) {
      logger.info(`No changes: ${displayPath(schemaPath)} matches the migrations; nothing was created.`)
      return { name: undefined, dir: undefined, needsHandWork: [], notes: [] }
    }
    if (/^-- Warnings:/m.test(up)) needsHandWork.push('Prisma flagged warnings in migration.sql (possible data loss or required columns without defaults): review it')
    const previous = existing.map((m) => ({ name: m.name, sql: readUpSql(m) }))
    const renamed = withRenames(up)
    if (renamed.renames.length && (await sameSchemaAfter(opts.url, previous, up, renamed.sql))) {
      up = renamed.sql
      notes.push(...renamed.renames.map(describeRename))
    }
    const history = [...previous, { name, sql: up }]
    const computed = await computeDown({ url: opts.url, history, logger, ...(opts.env ? { env: opts.env } : {}) })
    down = computed.text
    for (const m of computed.missing) needsHandWork.push(`down.sql is incomplete: ${m}`)
  }
  const dir = path.join(migrationsDir, name)
  const tmp = path.join(migrationsDir, `.${name}.tmp`)
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp)
  writeFileSync(path.join(tmp, 'migration.sql'), up)
  writeFileSync(path.join(tmp, 'down.sql'), down)
  // Appear whole or not at all: a half-written folder would be applied as is.
  renameSync(tmp, dir)
  logger.info(`Created: ${displayPath(dir)}`)
  return { name, dir, needsHandWork, notes }
}
